"""The master key that wraps every person's data key, behind a small provider interface.

A KMS or Vault can replace the key file: the platform only ever asks a provider to wrap and
unwrap a person's data key, with the person's pseudonym as associated data so a wrapped key
copied onto another person's row does not open. The database keeps the master key's id and a
check value (the key's AES-GCM of a constant): a lost or wrong key file is refused at start
with one line, and a new key is made only while the database holds no encrypted data (the
first run), never over it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from creditgraph.settings import Settings, get_settings
from creditgraph.store.db import make_engine
from creditgraph.store.files import private_dir, sync_dir
from creditgraph.store.models import MasterKey, PersonKey, table_of

KEY_BYTES = 32
NONCE_BYTES = 12
WRAP_VERSION = b"\x01"
CHECK_SUBJECT = "creditgraph/master-key-check"
CHECK_PLAINTEXT = b"creditgraph master key check v1"


class MasterKeyError(RuntimeError):
    """The master key is missing, wrong or unreadable: the product must not start."""


class MasterKeyBusy(MasterKeyError):
    """A rotation is running, or a writer holds the key that a rotation would replace."""


class KeyProvider(Protocol):
    """Wraps and unwraps persons' data keys; the master key itself never leaves the provider."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes, person_id: str) -> bytes: ...

    def wrap_many(self, keys: Sequence[tuple[bytes, str]]) -> list[bytes]:
        """``wrap`` of each (data key, person id), in order: a chunk's new keys at once."""
        ...

    def unwrap(self, wrapped: bytes, person_id: str) -> bytes: ...


class FileKeyProvider:
    """A 256-bit master key held in a private file; AES-GCM wraps each data key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"a master key has {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._key_id = hashlib.sha256(b"creditgraph master key id/" + key).hexdigest()[:32]

    @property
    def key_id(self) -> str:
        return self._key_id

    def wrap(self, data_key: bytes, person_id: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = _aad(person_id)
        return WRAP_VERSION + nonce + self._aead.encrypt(nonce, data_key, aad)

    def wrap_many(self, keys: Sequence[tuple[bytes, str]]) -> list[bytes]:
        """As ``wrap`` for each key, the nonces drawn in one call and sliced (each used once)."""
        nonces = secrets.token_bytes(NONCE_BYTES * len(keys))
        encrypt = self._aead.encrypt
        wrapped = []
        for at, (data_key, person_id) in zip(range(0, len(nonces), NONCE_BYTES), keys, strict=True):
            nonce = nonces[at : at + NONCE_BYTES]
            wrapped.append(WRAP_VERSION + nonce + encrypt(nonce, data_key, _aad(person_id)))
        return wrapped

    def unwrap(self, wrapped: bytes, person_id: str) -> bytes:
        if wrapped[:1] != WRAP_VERSION:
            raise MasterKeyError(f"wrapped key of unknown version {wrapped[:1].hex()}")
        nonce = wrapped[1 : 1 + NONCE_BYTES]
        return self._aead.decrypt(nonce, wrapped[1 + NONCE_BYTES :], _aad(person_id))


def _aad(person_id: str) -> bytes:
    return b"creditgraph/person-key/" + person_id.encode()


def check_value(provider: KeyProvider) -> bytes:
    """What the database keeps to recognise its master key (reveals nothing about it)."""
    return provider.wrap(CHECK_PLAINTEXT, CHECK_SUBJECT)


def matches(provider: KeyProvider, stored: bytes) -> bool:
    try:
        return provider.unwrap(stored, CHECK_SUBJECT) == CHECK_PLAINTEXT
    except (InvalidTag, MasterKeyError):
        return False


def read_key_file(path: Path) -> bytes | None:
    """The master key in ``path`` (hex), or None when there is no file."""
    if not path.exists():
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise MasterKeyError(
            f"{path}: master key file must not be readable by others (mode {mode:o})"
        )
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (ValueError, OSError) as exc:
        raise MasterKeyError(f"{path}: master key file is unreadable ({exc})") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{path}: expected a {KEY_BYTES}-byte hex master key")
    return key


def create_key_file(path: Path) -> bytes:
    """A new random master key, written 0600 in a 0700 folder; an existing file is kept.

    The file and its folder are synced before this returns: a rotation commits data wrapped
    under the key right after, and a power cut must not leave an empty or unnamed file behind.
    """
    private_dir(path.parent)
    path.parent.chmod(0o700)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: theirs is the key
        found = read_key_file(path)
        assert found is not None
        return found
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    sync_dir(path.parent)
    return key


LOCK_SUFFIX = ".lock"


def lock_file(path: Path) -> Path:
    """The lock beside the key file that a rotation holds alone and key writers share."""
    return path.with_name(path.name + LOCK_SUFFIX)


@contextmanager
def key_lock(path: Path, *, exclusive: bool, wait: bool = True) -> Iterator[None]:
    """An advisory lock on the master key file ``path`` (``flock``, released if the holder dies).

    A rotation holds it alone from before it writes the new key until the key file is replaced;
    an ingest (anything that makes data keys under the key it opened) holds it shared for its
    whole run, so no data key is wrapped under a key that a rotation is about to destroy.
    """
    private_dir(path.parent)
    fd = os.open(lock_file(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, flags if wait else flags | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MasterKeyBusy(
                "the master key is in use: a rotation or an ingest is running; "
                "try again when it has finished"
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def ensure_current(conn: Connection, provider: KeyProvider) -> None:
    """Refuse to store data keys wrapped under a master key that is no longer the database's.

    Called in the transaction that inserts them. A writer opens the key at its start; should a
    rotation commit meanwhile, keys wrapped under the old (destroyed) key would be lost. On
    PostgreSQL the row is read ``FOR SHARE``: a rotation deletes it first, so it waits for this
    transaction, and this read waits for a running rotation and then finds the row gone.
    """
    table = table_of(MasterKey)
    query = select(table.c.key_id).where(table.c.key_id == provider.key_id)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(read=True)
    if conn.execute(query).first() is None:
        raise MasterKeyError(
            f"the master key was rotated after this run opened it (key {provider.key_id} is no "
            "longer the database's): nothing was stored; run the command again"
        )


def _encrypted_rows(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(table_of(PersonKey))).scalar_one())


def open_master_key(engine: Engine, path: Path) -> KeyProvider:
    """The file key provider for ``engine``'s database, checked against the stored check value.

    Registered for the database, so the writers and readers of this process find it
    (``provider_for``). Raises ``MasterKeyError`` with one line when the key is lost or wrong.
    """
    with engine.begin() as conn:
        provider = _open_on(conn, path)
    register(engine, provider)
    return provider


def next_key_file(path: Path) -> Path:
    """Where a rotation writes the new master key before its transaction commits."""
    return path.with_name(path.name + ".next")


def _is_stored(key: bytes, stored: Sequence[Any]) -> bool:
    provider = FileKeyProvider(key)
    return any(r.key_id == provider.key_id and matches(provider, r.check_value) for r in stored)


def current_key(path: Path, stored: Sequence[Any], *, locked: bool = False) -> bytes | None:
    """The master key in force: the key file's, or the new key of a rotation that committed but
    has not moved it into place yet (``master.key.next`` matching the database's check value).

    A committed rotation's new key is moved over the key file here, unless the rotation is
    still running (it moves it itself). A ``.next`` that matches nothing is left alone: it may
    be a rotation in progress, whose commit is still to come; the next rotation removes it.
    ``locked``: the caller (a rotation) holds ``key_lock`` alone already.
    """
    pending = next_key_file(path)
    new = read_key_file(pending) if stored else None
    if new is None or not _is_stored(new, stored):
        return read_key_file(path)
    try:
        with nullcontext() if locked else key_lock(path, exclusive=False, wait=False):
            if read_key_file(pending) == new:  # not a later rotation's key, left uncommitted
                os.replace(pending, path)
                sync_dir(path.parent)
    except MasterKeyBusy:
        pass  # the rotation is finishing: it replaces the file itself
    except FileNotFoundError:
        pass  # another process moved it first
    return new


def _open_on(conn: Connection, path: Path) -> KeyProvider:
    stored = conn.execute(select(MasterKey.key_id, MasterKey.check_value)).all()
    key = current_key(path, stored)
    if key is None:
        if stored or _encrypted_rows(conn):
            known = stored[0].key_id if stored else "unknown"
            raise MasterKeyError(
                f"master key file {path} is missing and the database holds data encrypted "
                f"under key {known}: restore the key file (a new key would lose that data)"
            )
        key = create_key_file(path)
    provider = FileKeyProvider(key)
    if stored:
        if not any(
            row.key_id == provider.key_id and matches(provider, row.check_value) for row in stored
        ):
            raise MasterKeyError(
                f"master key file {path} holds key {provider.key_id}, not the key this "
                f"database was encrypted with ({', '.join(r.key_id for r in stored)}): "
                "restore the right key file"
            )
    elif _encrypted_rows(conn):
        raise MasterKeyError(
            "the database holds encrypted data but no master key record: restore the "
            "database's master_keys row from a backup"
        )
    else:
        _record(conn, provider)
    return provider


def _record(conn: Connection, provider: KeyProvider) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        with conn.begin_nested():
            conn.execute(
                insert(table_of(MasterKey)).values(
                    key_id=provider.key_id, check_value=check_value(provider), created_at=now
                )
            )
    except IntegrityError:  # another process recorded the same key first
        pass


_OPENED: dict[str, KeyProvider] = {}
_GUARD = threading.Lock()


def _database(bind: Engine | Connection) -> str:
    return bind.engine.url.render_as_string(hide_password=True)


def register(bind: Engine | Connection, provider: KeyProvider) -> None:
    """Make ``provider`` the master key of ``bind``'s database for this process."""
    with _GUARD:
        _OPENED[_database(bind)] = provider


def master_key_file(settings: Settings) -> Path:
    return settings.master_key_file or settings.home_dir / "keys" / "master.key"


def provider_for(bind: Engine | Connection) -> KeyProvider:
    """The master key opened for ``bind``'s database in this process; for the process's own
    database (the CLI's, the API's) it is opened from the settings on first use."""
    name = _database(bind)
    with _GUARD:
        found = _OPENED.get(name)
    if found is not None:
        return found
    settings = get_settings()
    if _url_name(settings.database_url) == name:
        path = master_key_file(settings)
        if isinstance(bind, Engine):
            return open_master_key(bind, path)
        provider = _open_on(bind, path)  # inside the caller's transaction: no second writer
        register(bind, provider)
        return provider
    raise MasterKeyError(
        "no master key is open for this database: open it with the home's settings first"
    )


def _url_name(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=True)


def _refuse_plaintext(conn: Connection) -> None:
    """A database from before encrypted fields that holds people: its upgrade will refuse
    (migration 0019), so say so now, in one line, rather than from inside the migration."""
    inspector = inspect(conn)
    if not inspector.has_table("persons"):
        return
    columns = {c["name"] for c in inspector.get_columns("persons")}
    if "declared_monthly_income_fen" not in columns:
        return
    people = conn.execute(text("SELECT count(*) FROM persons")).scalar_one()
    if people:
        raise MasterKeyError(
            f"this database holds {people} persons in plaintext from before encrypted fields "
            "(migration 0019 cannot encrypt them in place): ingest the lender's files into a "
            "fresh database (CREDITGRAPH_HOME or CREDITGRAPH_DB_URL) instead"
        )


def check_master_key(settings: Settings) -> None:
    """At start: refuse a lost or wrong master key before any command runs (``MasterKeyError``).

    A rotation cut short after its commit is finished here (``current_key``), as at any opening
    of the key; nothing else is written. A database with no encrypted data yet (or none at all,
    or one not yet migrated) passes, and its key is made by the first write. A database that
    cannot be reached is left to the command, which reports it.
    """
    url = make_url(settings.database_url)
    local = url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:"
    if local and not Path(str(url.database)).expanduser().exists():
        return
    engine = make_engine(settings.database_url)
    try:
        try:
            with engine.connect() as conn:
                if not inspect(conn).has_table(table_of(MasterKey).name):
                    _refuse_plaintext(conn)
                    return
                stored = conn.execute(select(MasterKey.key_id, MasterKey.check_value)).all()
                if not stored and not _encrypted_rows(conn):
                    return
        except MasterKeyError:
            raise
        except Exception:  # unreachable or unreadable: the command reports it in its own words
            return
        path = master_key_file(settings)
        key = current_key(path, stored)
        if key is None:
            raise MasterKeyError(
                f"master key file {path} is missing and the database holds encrypted data: "
                "restore the key file (a new key would lose that data)"
            )
        provider = FileKeyProvider(key)
        if not any(
            r.key_id == provider.key_id and matches(provider, r.check_value) for r in stored
        ):
            raise MasterKeyError(
                f"master key file {path} is not the key this database was encrypted with: "
                "restore the right key file"
            )
    finally:
        engine.dispose()
