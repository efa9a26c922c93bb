"""Personal fields encrypted under a data key per person (AES-GCM), so erasure is one delete.

Each person gets a random 256-bit data key, stored wrapped by the master key (``person_keys``).
Each field is sealed as ``version | nonce (96 bits, random) | ciphertext and tag`` with
``person_id|field`` as associated data: a ciphertext moved to another person or another column
does not open. Deleting the person's key (``shred``) makes every copy of their fields unreadable,
in the database file, its WAL and any backup taken before.

Bulk paths serve ingest (keys made and wrapped for a chunk of people at once) and the feature
build (a column decrypted for every person, each key unwrapped once per process run).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, delete, insert, select

from creditgraph.privacy.keys import KeyProvider, ensure_current
from creditgraph.store.models import Person, PersonIdentity, PersonKey, table_of

VERSION = b"\x01"
NONCE_BYTES = 12
DATA_KEY_BYTES = 32
IDENTITY_FIELDS = ("external_id", "name", "phone", "id_number", "note")
INCOME_FIELD = "declared_monthly_income"
_IN_CLAUSE = 5_000
_CACHE_LIMIT = 2_000_000


class FieldCryptError(RuntimeError):
    """A field that does not open: no key for the person (erased) or a damaged ciphertext."""


@dataclass(frozen=True)
class Identity:
    """A person's personal fields, decrypted: what the subject export and a correction read."""

    person_id: str
    external_id: str
    name: str | None
    phone: str | None
    id_number: str | None
    note: str | None
    declared_monthly_income_fen: int | None


_KEYS: dict[str, tuple[str, AESGCM, bytes]] = {}  # person -> (master key id, cipher, data key)
DIGEST_DOMAIN = b"cg/row-digest"
_KEYS_GUARD = threading.Lock()


def _cached(key_id: str, person_id: str) -> AESGCM | None:
    hit = _KEYS.get(person_id)
    return hit[1] if hit is not None and hit[0] == key_id else None


def _remember(key_id: str, person_id: str, data_key: bytes) -> AESGCM:
    aead = AESGCM(data_key)
    with _KEYS_GUARD:
        if len(_KEYS) >= _CACHE_LIMIT:
            _KEYS.clear()
        _KEYS[person_id] = (key_id, aead, data_key)
    return aead


def digest(key_id: str, person_id: str, text: str) -> str:
    """A keyed digest of the person's personal values (a row hash's part that stays secret):
    BLAKE2b keyed by a subkey of the person's data key, so it is lost with the key and cannot be
    recomputed from guesses. The key must have been loaded (``ensure_keys``)."""
    hit = _KEYS.get(person_id)
    if hit is None or hit[0] != key_id:
        raise FieldCryptError("the person's data key is not loaded")
    key = _row_hash_key(hit[2])
    return hashlib.blake2b(text.encode(), digest_size=16, key=key, person=DIGEST_DOMAIN).hexdigest()


ROW_HASH_INFO = b"creditgraph/row-hash"
ROW_HASH_KEY_DOMAIN = b"cg/row-hash-key"  # BLAKE2b personalisation: 16 bytes at most
_ROW_KEYS: dict[bytes, bytes] = {}  # data key -> its row-hash subkey


def _row_hash_key(data_key: bytes) -> bytes:
    """The row hash's own key, derived from the data key: the data key that seals the fields is
    never used as a MAC key too. The derivation is BLAKE2b keyed by the data key over a fixed
    label in its own personalisation (libsodium's ``crypto_kdf`` construction), a PRF of the
    data key as HKDF-SHA256 would be, at a fifth of its cost: ingest derives one per person it
    writes, and HKDF was the largest single part of encryption's ingest overhead. Cached per
    person per process beside the AEAD's key."""
    found = _ROW_KEYS.get(data_key)
    if found is None:
        found = _derive_row_hash_key(data_key)
        with _KEYS_GUARD:
            if len(_ROW_KEYS) >= _CACHE_LIMIT:
                _ROW_KEYS.clear()
            _ROW_KEYS[data_key] = found
    return found


def _derive_row_hash_key(data_key: bytes) -> bytes:
    return hashlib.blake2b(
        ROW_HASH_INFO, digest_size=32, key=data_key, person=ROW_HASH_KEY_DOMAIN
    ).digest()


def forget(person_id: str) -> None:
    """Drop the person's unwrapped key from this process's cache (after a shred)."""
    with _KEYS_GUARD:
        hit = _KEYS.pop(person_id, None)
        if hit is not None:
            _ROW_KEYS.pop(hit[2], None)


def seal(aead: AESGCM, person_id: str, field: str, value: str | None) -> bytes | None:
    """One field's ciphertext (None stays None: an absent field is not a secret)."""
    if value is None:
        return None
    nonce = os.urandom(NONCE_BYTES)  # secrets.token_bytes is os.urandom, without a call
    aad = f"{person_id}|{field}".encode()
    return VERSION + nonce + aead.encrypt(nonce, value.encode(), aad)


def unseal(aead: AESGCM, person_id: str, field: str, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    if blob[:1] != VERSION:
        raise FieldCryptError(f"{field}: ciphertext of unknown version {blob[:1].hex()}")
    aad = f"{person_id}|{field}".encode()
    try:
        plain = aead.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
    except InvalidTag:
        raise FieldCryptError(f"{field}: ciphertext does not open under the person's key") from None
    return plain.decode()


def ensure_keys(
    conn: Connection,
    provider: KeyProvider,
    person_ids: Iterable[str],
    new: Collection[str] = (),
) -> dict[str, AESGCM]:
    """Each person's data key, made, wrapped and stored for those who have none yet.

    ``new``: people the caller knows have no key (not yet stored): not looked up. The new keys
    are drawn from the OS in one call and wrapped in one provider call: at ingest a call per
    person cost more than the AES-GCM itself.
    """
    wanted = sorted(set(person_ids))
    fresh = set(new)
    keys = load_keys(conn, provider, [p for p in wanted if p not in fresh])
    lacking = [p for p in wanted if p not in keys]
    if not lacking:
        return keys
    randomness = os.urandom(DATA_KEY_BYTES * len(lacking))
    data_keys = [
        randomness[at : at + DATA_KEY_BYTES] for at in range(0, len(randomness), DATA_KEY_BYTES)
    ]
    wrapped = provider.wrap_many(list(zip(data_keys, lacking, strict=True)))
    ensure_current(conn, provider)  # a rotation since the provider was opened: refuse, store none
    _insert_keys(conn, provider.key_id, lacking, wrapped)
    # built by map and zip, not a loop of tuples per person: at ingest the loop cost as much
    # as the key schedules themselves
    aeads = list(map(AESGCM, data_keys))
    keys.update(zip(lacking, aeads, strict=True))
    entries = zip(repeat(provider.key_id), aeads, data_keys, strict=False)
    with _KEYS_GUARD:  # one update for the chunk, not a lock per person
        if len(_KEYS) + len(lacking) > _CACHE_LIMIT:
            _KEYS.clear()
        _KEYS.update(zip(lacking, entries, strict=True))
    return keys


_INSERT_KEYS = (
    "INSERT INTO person_keys (person_id, key_id, wrapped, created_at) VALUES (?, ?, ?, ?)"
)


def _insert_keys(
    conn: Connection, key_id: str, person_ids: list[str], wrapped: list[bytes]
) -> None:
    """New keys in one ``executemany`` on the driver's cursor: at ingest SQLAlchemy's handling of
    each row's parameters cost as much as the insert itself."""
    now = datetime.now(UTC).replace(tzinfo=None)
    if conn.dialect.name != "sqlite":
        conn.execute(
            insert(table_of(PersonKey)),
            [
                {"person_id": p, "key_id": key_id, "wrapped": w, "created_at": now}
                for p, w in zip(person_ids, wrapped, strict=True)
            ],
        )
        return
    stamp = now.isoformat(sep=" ", timespec="microseconds")  # SQLAlchemy's own format
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            _INSERT_KEYS, list(zip(person_ids, repeat(key_id), wrapped, repeat(stamp)))
        )
    finally:
        cursor.close()


def load_keys(
    conn: Connection, provider: KeyProvider, person_ids: Iterable[str]
) -> dict[str, AESGCM]:
    """The unwrapped keys of the people who have one (the erased have none)."""
    keys: dict[str, AESGCM] = {}
    missing = []
    for person_id in person_ids:
        hit = _cached(provider.key_id, person_id)
        if hit is None:
            missing.append(person_id)
        else:
            keys[person_id] = hit
    table = table_of(PersonKey)
    for start in range(0, len(missing), _IN_CLAUSE):
        part = missing[start : start + _IN_CLAUSE]
        rows = conn.execute(
            select(table.c.person_id, table.c.wrapped).where(table.c.person_id.in_(part))
        )
        for person_id, wrapped in rows:
            keys[person_id] = _unwrap(provider, person_id, wrapped)
    return keys


def _unwrap(provider: KeyProvider, person_id: str, wrapped: bytes) -> AESGCM:
    try:
        data_key = provider.unwrap(wrapped, person_id)
    except InvalidTag:
        raise FieldCryptError(
            "a data key does not open under the master key (moved or damaged)"
        ) from None
    return _remember(provider.key_id, person_id, data_key)


def all_keys(conn: Connection, provider: KeyProvider) -> dict[str, AESGCM]:
    """Every person's unwrapped key, read in one pass (a feature build's)."""
    keys: dict[str, AESGCM] = {}
    table = table_of(PersonKey)
    query = select(table.c.person_id, table.c.wrapped).execution_options(yield_per=100_000)
    for person_id, wrapped in conn.execute(query):
        hit = _cached(provider.key_id, person_id)
        keys[person_id] = hit if hit is not None else _unwrap(provider, person_id, wrapped)
    return keys


def key_of(conn: Connection, provider: KeyProvider, person_id: str) -> AESGCM:
    found = load_keys(conn, provider, [person_id]).get(person_id)
    if found is None:
        raise FieldCryptError("the person has no data key (erased, or never ingested)")
    return found


def read_identity(conn: Connection, provider: KeyProvider, person_id: str) -> Identity:
    """One person's personal fields, decrypted; ``FieldCryptError`` without a key or a row."""
    aead = key_of(conn, provider, person_id)
    ids = table_of(PersonIdentity).c
    persons = table_of(Person).c
    row = conn.execute(
        select(
            ids.external_id,
            ids.name,
            ids.phone,
            ids.id_number,
            ids.note,
            persons.declared_monthly_income_enc,
        )
        .join_from(table_of(PersonIdentity), table_of(Person), persons.person_id == ids.person_id)
        .where(ids.person_id == person_id)
    ).first()
    if row is None:
        raise FieldCryptError("the person has no identity row")
    income = unseal(aead, person_id, INCOME_FIELD, row.declared_monthly_income_enc)
    external_id = unseal(aead, person_id, "external_id", row.external_id)
    assert external_id is not None  # the column is not null
    return Identity(
        person_id=person_id,
        external_id=external_id,
        name=unseal(aead, person_id, "name", row.name),
        phone=unseal(aead, person_id, "phone", row.phone),
        id_number=unseal(aead, person_id, "id_number", row.id_number),
        note=unseal(aead, person_id, "note", row.note),
        declared_monthly_income_fen=None if income is None else int(income),
    )


def seal_income(aead: AESGCM, person_id: str, fen: int) -> bytes:
    sealed = seal(aead, person_id, INCOME_FIELD, str(int(fen)))
    assert sealed is not None
    return sealed


def open_column(
    conn: Connection, provider: KeyProvider, column: str
) -> Iterator[tuple[str, str | None]]:
    """(person_id, plaintext) of one encrypted column for every person with a key.

    ``column`` is ``declared_monthly_income`` (persons) or an identity field. Each person's key
    is unwrapped once per process run; people without a key (erased) are left out.
    """
    keys = all_keys(conn, provider)
    if column == INCOME_FIELD:
        table = table_of(Person)
        source = table.c.declared_monthly_income_enc
    elif column in IDENTITY_FIELDS:
        table = table_of(PersonIdentity)
        source = table.c[column]
    else:
        raise ValueError(f"column must be {INCOME_FIELD} or one of {', '.join(IDENTITY_FIELDS)}")
    query = select(table.c.person_id, source).execution_options(yield_per=100_000)
    for person_id, blob in conn.execute(query):
        aead = keys.get(person_id)
        if aead is not None:
            yield person_id, unseal(aead, person_id, column, blob)


def shred(conn: Connection, person_id: str) -> int:
    """Delete the person's data key (crypto-shredding); returns the rows deleted (0 or 1)."""
    table = table_of(PersonKey)
    result = conn.execute(delete(table).where(table.c.person_id == person_id))
    forget(person_id)
    return int(result.rowcount or 0)


class Sealer(Protocol):
    """What a writer seals personal fields with: keys made for a chunk, then field by field."""

    def keys_for(
        self, conn: Connection, person_ids: Iterable[str], new: Collection[str] = ()
    ) -> None: ...

    def seal(self, person_id: str, field: str, value: str | None) -> bytes | None: ...

    def seal_many(
        self, person_id: str, values: Mapping[str, str | None]
    ) -> dict[str, bytes | None]: ...

    def digest(self, person_id: str, text: str) -> str: ...


SEALS_PER_PERSON = len(IDENTITY_FIELDS) + 1  # the identity and the declared income
_POOL_BLOCK = NONCE_BYTES * 4_096
_FIELD_AAD = {f: f"|{f}".encode() for f in (*IDENTITY_FIELDS, INCOME_FIELD)}


class FieldSealer:
    """Seals under each person's data key, making and wrapping the keys a chunk lacks.

    The same format as ``seal`` (version, random 96-bit nonce, AES-GCM with ``person_id|field``
    as associated data), but the nonces of a chunk come from one ``os.urandom`` call, sliced:
    a system call per field was a third of the sealing time at ingest. Each slice is handed out
    once and the pool is redrawn for every chunk (``keys_for``), so no nonce repeats. A sealer
    belongs to one writer: it is not shared between threads or across a fork.
    """

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider
        self._keys: dict[str, AESGCM] = {}
        self._row_keys: dict[str, bytes] = {}
        self._pool = b""
        self._at = 0

    def keys_for(
        self, conn: Connection, person_ids: Iterable[str], new: Collection[str] = ()
    ) -> None:
        people = list(person_ids)
        self._conn = conn
        self._keys = ensure_keys(conn, self.provider, people, new)
        self._row_keys = {}
        self._pool = os.urandom(NONCE_BYTES * SEALS_PER_PERSON * len(people))
        self._at = 0

    def _nonces(self, count: int) -> int:
        """Where ``count`` unused nonces start in the pool (drawn afresh when it runs out)."""
        need = NONCE_BYTES * count
        if self._at + need > len(self._pool):
            self._pool = os.urandom(max(need, _POOL_BLOCK))
            self._at = 0
        at = self._at
        self._at = at + need
        return at

    def seal(self, person_id: str, field: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        at = self._nonces(1)
        nonce = self._pool[at : at + NONCE_BYTES]
        aad = person_id.encode() + (_FIELD_AAD.get(field) or f"|{field}".encode())
        return VERSION + nonce + self._keys[person_id].encrypt(nonce, value.encode(), aad)

    def seal_many(
        self, person_id: str, values: Mapping[str, str | None]
    ) -> dict[str, bytes | None]:
        """A person's fields sealed at once (one key lookup, the person's part of the associated
        data encoded once); absent values stay None."""
        encrypt = self._keys[person_id].encrypt
        prefix = person_id.encode()
        at = self._nonces(len(values))
        pool = self._pool
        sealed: dict[str, bytes | None] = {}
        for field, value in values.items():
            if value is None:
                sealed[field] = None
                continue
            nonce = pool[at : at + NONCE_BYTES]
            at += NONCE_BYTES
            aad = prefix + (_FIELD_AAD.get(field) or f"|{field}".encode())
            sealed[field] = VERSION + nonce + encrypt(nonce, value.encode(), aad)
        return sealed

    def digest(self, person_id: str, text: str) -> str:
        """As ``digest``, with the chunk's row-hash keys held by the sealer: no process-wide
        lookup, lock or cache entry per person (ingest digests every person it writes)."""
        key = self._row_keys.get(person_id)
        if key is None:
            key = self._row_keys[person_id] = _derive_row_hash_key(self._data_key(person_id))
        mac = hashlib.blake2b(text.encode(), digest_size=16, key=key, person=DIGEST_DOMAIN)
        return mac.hexdigest()

    def _data_key(self, person_id: str) -> bytes:
        key_id = self.provider.key_id
        hit = _KEYS.get(person_id)
        if hit is None or hit[0] != key_id:  # the process cache was emptied since keys_for
            load_keys(self._conn, self.provider, [person_id])
            hit = _KEYS.get(person_id)
            if hit is None or hit[0] != key_id:
                raise FieldCryptError("the person's data key is not loaded")
        return hit[2]
