"""The sequencer: gives pending commitments their leaves and publishes signed checkpoints.

``integrate`` takes the commitments the records' transactions left pending, in the order they
were written, appends their entries to the tiled tree and notes each one's leaf index, all in
one transaction that holds the tree's lock (so two sequencers integrate one after another and
never the same commitment twice). ``publish`` signs a checkpoint of the integrated tree with the
log's key (and, during a key rotation, the previous key too), gathers the witnesses'
cosignatures when a witness policy is configured, and publishes it only when the policy's
quorum is met; a checkpoint that missed its quorum is kept, unpublished, with why.

``run`` does both every ``interval`` seconds while there is something new, which keeps the time
from a record's commit to a published checkpoint that covers it under a second; ``cover``
does it on demand for one leaf (a receipt asked for before the next tick).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from creditgraph.audit import note, tile_store
from creditgraph.audit.checkpoint import Checkpoint, sign_checkpoint
from creditgraph.audit.commitment import entry
from creditgraph.audit.cosignature import (
    CosignatureError,
    CosignatureVerifier,
    verify_cosignatures,
)
from creditgraph.audit.witness_client import (
    Poster,
    WitnessOutcome,
    ask_witness,
    post_add_checkpoint,
)
from creditgraph.audit.witness_policy import WitnessPolicy, satisfied
from creditgraph.store.db import write_transaction
from creditgraph.store.models import AuditCheckpoint, AuditRecord, AuditWitnessSize, table_of

RECORDS = table_of(AuditRecord)
CHECKPOINTS = table_of(AuditCheckpoint)
WITNESS_SIZES = table_of(AuditWitnessSize)

RETRY_SECONDS = 5.0
"""How long a checkpoint that missed its quorum waits before the witnesses are asked again."""

BATCH = 10_000
"""Commitments integrated per transaction: big enough for throughput, small enough to keep the
tree's lock for well under a second."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class LogKeys:
    """The log's signing keys: the current one first, then any it is rotating away from."""

    signers: tuple[note.Signer, ...]

    def __post_init__(self) -> None:
        if not self.signers:
            raise ValueError("a log needs a signing key")
        names = {s.name for s in self.signers}
        if len(names) != 1:
            raise ValueError(f"a log's keys share its origin as their name, not {sorted(names)}")

    @property
    def origin(self) -> str:
        return self.signers[0].name


def integrate(engine: Engine, limit: int = BATCH) -> int:
    """Integrate up to ``limit`` pending commitments; how many were.

    A write transaction like the records' own (on SQLite: this process's writers in turn, the
    lock taken up front), so the sequencer is not starved by writers committing back to back.
    """
    with write_transaction(engine) as conn:
        return integrate_in(conn, limit)


def integrate_in(conn: Connection, limit: int = BATCH) -> int:
    size = tile_store.lock(conn)
    pending = conn.execute(
        select(RECORDS.c.id, RECORDS.c.kind, RECORDS.c.commitment)
        .where(RECORDS.c.leaf_index.is_(None))
        .order_by(RECORDS.c.id)
        .limit(limit)
    ).all()
    if not pending:
        return 0
    first = tile_store.append(conn, [entry(row.kind, bytes(row.commitment)) for row in pending])
    if first != size:
        raise tile_store.TileStoreError(f"the tree grew from {size} to {first} under its lock")
    now = _now()
    conn.execute(
        update(RECORDS)
        .where(RECORDS.c.id == bindparam("record_pk"))
        .values(leaf_index=bindparam("leaf"), sequenced_at=now),
        [{"record_pk": row.id, "leaf": first + i} for i, row in enumerate(pending)],
    )
    return len(pending)


def integrate_all(engine: Engine) -> int:
    total = 0
    while count := integrate(engine):
        total += count
    return total


@dataclass(frozen=True)
class Published:
    """A checkpoint the log signed: published when its witness policy (if any) was met."""

    size: int
    note: bytes
    published: bool
    cosigners: tuple[str, ...] = ()
    detail: str = ""
    refusals: tuple[str, ...] = field(default=())


class LogIdentityError(RuntimeError):
    """The key would sign for another origin than the checkpoints already published."""


def latest(conn: Connection, *, published_only: bool = True) -> Published | None:
    """The latest checkpoint: the largest tree, the last signed of that size."""
    query = (
        select(CHECKPOINTS).order_by(CHECKPOINTS.c.size.desc(), CHECKPOINTS.c.id.desc()).limit(1)
    )
    if published_only:
        query = query.where(CHECKPOINTS.c.published.is_(True))
    row = conn.execute(query).first()
    if row is None:
        return None
    return Published(int(row.size), bytes(row.note), bool(row.published), detail=row.detail or "")


def _refused_lately(conn: Connection, size: int) -> bool:
    """Did a checkpoint of this size miss its quorum less than ``RETRY_SECONDS`` ago?"""
    row = conn.execute(
        select(CHECKPOINTS.c.size, CHECKPOINTS.c.published, CHECKPOINTS.c.created_at)
        .order_by(CHECKPOINTS.c.id.desc())
        .limit(1)
    ).first()
    if row is None or row.published or row.size != size:
        return False
    return bool((_now() - row.created_at).total_seconds() < RETRY_SECONDS)


def publish(
    engine: Engine,
    keys: LogKeys,
    *,
    policy: WitnessPolicy | None = None,
    force: bool = False,
    post: Poster = post_add_checkpoint,
) -> Published | None:
    """Sign a checkpoint of the integrated tree and publish it if the policy allows.

    Nothing is signed when the last published checkpoint already has the tree's size, unless
    ``force``. Witnesses are asked outside any transaction; what each said is in ``refusals``.
    """
    with engine.begin() as conn:
        size = tile_store.tree_size(conn)
        last = latest(conn)
        if last is not None and _origin(last.note) != keys.origin:
            raise LogIdentityError(
                f"the log's checkpoints are for {_origin(last.note)!r}; this key signs for "
                f"{keys.origin!r} (a key file from another home?): nothing was signed"
            )
        if last is not None and last.size >= size and not force:
            return None
        if not force and _refused_lately(conn, size):
            return None
        root = tile_store.root(conn, size)
        witness_sizes = dict(
            conn.execute(select(WITNESS_SIZES.c.witness, WITNESS_SIZES.c.size)).all()
        )
    signed = sign_checkpoint(Checkpoint(keys.origin, size, root), list(keys.signers))
    if policy is None:
        return _store(engine, size, root, signed, True, (), "no witness policy", (), {})
    asked = [w for w in policy.witnesses if w.url]
    with ThreadPoolExecutor(max_workers=max(1, len(asked))) as pool:  # in parallel: one slow
        outcomes = list(  # witness costs its own timeout, not the sum of everyone's
            pool.map(
                lambda w: _own_lines(
                    _ask(engine, w.name, w.url, witness_sizes.get(w.name, 0), size, signed, post),
                    w.verifier(),
                    signed,
                ),
                asked,
            )
        )
    cosigned = signed + b"".join(o.cosignatures for o in outcomes)
    verified = verify_cosignatures(cosigned, policy.verifiers()) if len(outcomes) else {}
    met = satisfied(policy, verified)
    refusals = tuple(o.detail for o in outcomes if not o.cosignatures)
    detail = (
        f"quorum {policy.quorum!r} met by {', '.join(sorted(verified))}"
        if met
        else f"quorum {policy.quorum!r} not met: " + ("; ".join(refusals) or "no cosignature")
    )
    sizes = {o.name: o.size for o in outcomes if o.size is not None and o.cosignatures}
    return _store(
        engine, size, root, cosigned, met, tuple(sorted(verified)), detail, refusals, sizes
    )


def _origin(signed_note: bytes) -> str:
    return signed_note.split(b"\n", 1)[0].decode("utf-8", "replace")


def _own_lines(
    outcome: WitnessOutcome, verifier: CosignatureVerifier, signed: bytes
) -> WitnessOutcome:
    """Keep only the lines a witness returned under its own key that verify: one witness's bad
    or foreign line must not cost the others' cosignatures."""
    if not outcome.cosignatures:
        return outcome
    prefix = "— ".encode() + verifier.name.encode() + b" "
    lines = [line + b"\n" for line in outcome.cosignatures.split(b"\n") if line.startswith(prefix)]
    kept = b"".join(lines)
    try:
        good = verifier.name in verify_cosignatures(signed + kept, [verifier]) if kept else False
    except (CosignatureError, note.NoteError) as exc:
        return WitnessOutcome(outcome.name, b"", None, f"{outcome.name}: bad cosignature: {exc}")
    if not good:
        return WitnessOutcome(outcome.name, b"", None, f"{outcome.name}: no cosignature by its key")
    return WitnessOutcome(outcome.name, kept, outcome.size, outcome.detail)


def _ask(
    engine: Engine,
    name: str,
    url: str | None,
    old_size: int,
    size: int,
    signed: bytes,
    post: Poster,
) -> WitnessOutcome:
    def proof_from(old: int) -> list[bytes]:
        if old <= 0 or old >= size:
            return []
        with engine.connect() as conn:
            return tile_store.consistency_proof(conn, old, size)

    assert url is not None
    return ask_witness(name, url, old_size, size, proof_from, signed, post)


def _store(
    engine: Engine,
    size: int,
    root: bytes,
    signed: bytes,
    published: bool,
    cosigners: Sequence[str],
    detail: str,
    refusals: Sequence[str],
    witness_sizes: Mapping[str, int | None],
) -> Published:
    now = _now()
    with write_transaction(engine) as conn:
        tile_store.lock(conn)  # publications are stored one at a time, never going backwards
        newest = latest(conn)
        if published and newest is not None and newest.size > size:
            published = False
            detail = f"a checkpoint of size {newest.size} was published meanwhile; {detail}"
        conn.execute(
            insert(CHECKPOINTS).values(
                size=size,
                root_hash=root,
                note=signed,
                published=published,
                created_at=now,
                detail=detail[:2000],
            )
        )
        for witness, witness_size in witness_sizes.items():
            changed = conn.execute(
                update(WITNESS_SIZES)
                .where(WITNESS_SIZES.c.witness == witness)
                .values(size=witness_size, updated_at=now)
            ).rowcount
            if not changed:
                conn.execute(
                    insert(WITNESS_SIZES).values(witness=witness, size=witness_size, updated_at=now)
                )
    return Published(size, signed, published, tuple(cosigners), detail, tuple(refusals))


def cover(
    engine: Engine,
    keys: LogKeys,
    leaf_index: int | None = None,
    *,
    policy: WitnessPolicy | None = None,
    post: Poster = post_add_checkpoint,
) -> Published | None:
    """Integrate what is pending and publish, so the latest checkpoint covers ``leaf_index``
    (every integrated leaf when None); the latest published checkpoint, if any covers it."""
    integrate_all(engine)
    with engine.connect() as conn:
        last = latest(conn)
        size = tile_store.tree_size(conn)
    wanted = size if leaf_index is None else leaf_index + 1
    if last is None or last.size < wanted:
        publish(engine, keys, policy=policy, post=post)
        with engine.connect() as conn:
            last = latest(conn)
    if last is None or last.size < wanted:
        return None
    return last


def run(
    engine: Engine,
    keys: LogKeys,
    *,
    policy: WitnessPolicy | None = None,
    interval: float = 0.5,
    stop: threading.Event | None = None,
    post: Poster = post_add_checkpoint,
) -> None:
    """Integrate and publish every ``interval`` seconds until ``stop`` is set.

    One batch per tick, then a checkpoint: under a steady stream of records there is always
    something pending, and waiting for the outbox to empty would hold every checkpoint back.
    With a backlog the next tick starts at once.
    """
    stop = stop or threading.Event()
    while not stop.is_set():
        started = time.monotonic()
        added = integrate(engine)
        publish(engine, keys, policy=policy, post=post)
        if added < BATCH:
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
