"""Demo stage 8: the audit log partners verify.

Every record the earlier stages wrote (ingest batches, consents, models, decisions, day ends,
alerts and their actions) was committed to the log in its own transaction. Here the sequencer
integrates them and publishes a checkpoint once two partner banks' witnesses, served over HTTP
as the partners would run them, have cosigned it (a 2-of-2 policy). Then:

* one decision's receipt is written and checked offline, with only the log's public key file
  and the witnesses' keys, and its opening matched to the decision;
* a consent is backdated in the database as an insider might, ``verify`` names its entry, and
  the record is put back;
* the log shows partner B a second tree of the same size (a split view); B's witness, having
  cosigned the first, refuses with 409 and keeps the evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import Engine, func, select, update

from creditgraph.console.display import print_table
from creditgraph.console.progress import RowProgress
from creditgraph.demo.context import DemoContext

PARTNERS = ("bank-a", "bank-b")


@contextmanager
def _witness(folder: Path, name: str, log_keys: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """A partner's witness on a loopback port: its URL, its verifier key and its store."""
    from creditgraph.audit.cosignature import format_verifier, generate_cosigner
    from creditgraph.audit.witness_app import Witness, create_witness_app, serving_in_thread
    from creditgraph.audit.witness_store import open_store

    signer = generate_cosigner(f"witness.{name}.example")
    store = open_store(folder / f"{name}.db")
    try:
        with serving_in_thread(create_witness_app(Witness(store, log_keys, [signer]))) as url:
            yield url, format_verifier(signer.verifier()), store
    finally:
        store.engine.dispose()


def audit_stage(ctx: DemoContext) -> None:
    from creditgraph.audit import keyfile, note
    from creditgraph.audit.witness_policy import parse_witness_policy
    from creditgraph.store.db import migrated_engine

    ctx.console.rule("8. Audit log: checkpoints, witnesses, receipts 审计日志")
    keys = keyfile.load_or_create(ctx.settings.keys_dir)
    folder = ctx.settings.home_dir / "demo-audit"
    folder.mkdir(parents=True, exist_ok=True)
    trusted = {keys.origin: [s.verifier() for s in keys.signers]}
    with (
        migrated_engine(ctx.settings.database_url) as db,
        _witness(folder, PARTNERS[0], trusted) as (url_a, key_a, _),
        _witness(folder, PARTNERS[1], trusted) as (url_b, key_b, store_b),
    ):
        policy = parse_witness_policy(
            {
                "witnesses": [
                    {"name": PARTNERS[0], "key": key_a, "url": url_a},
                    {"name": PARTNERS[1], "key": key_b, "url": url_b},
                ],
                "groups": [{"name": "partners", "threshold": 2, "members": list(PARTNERS)}],
                "quorum": "partners",
            }
        )
        published = _checkpoint(ctx, db, keys, policy)
        _receipt(ctx, db, keys, policy, folder)
        _tamper(ctx, db, keys)
        _split_view(ctx, db, keys, url_b, store_b, published.size)
    ctx.console.print(
        f"the log's public key 日志公钥 ({ctx.settings.keys_dir / 'audit.pub'}): "
        f"{note.format_verifier(keys.signers[0].verifier())}",
        soft_wrap=True,
    )


def _checkpoint(ctx: DemoContext, db: Engine, keys: Any, policy: Any) -> Any:
    from creditgraph.audit import sequencer
    from creditgraph.store.models import AuditRecord, table_of

    records = table_of(AuditRecord)
    with db.connect() as conn:
        by_kind: Counter[str] = Counter(
            dict(conn.execute(select(records.c.kind, func.count()).group_by(records.c.kind)).all())
        )
    total = sum(by_kind.values())
    with RowProgress(ctx.console) as bars:
        done = 0
        while count := sequencer.integrate(db):
            done += count
            bars.update("commitments into the tree", done, total)
    published = sequencer.publish(db, keys, policy=policy, force=True)
    if published is None or not published.published:
        raise RuntimeError(f"the demo's checkpoint was not cosigned: {published}")
    table = Table(title="what the log commits to 日志承诺的记录")
    table.add_column("record kind")
    table.add_column("entries", justify="right")
    for kind, count in sorted(by_kind.items()):
        table.add_row(kind, f"{count:,}")
    print_table(ctx.console, table)
    ctx.console.print(
        f"checkpoint 检查点 cosigned by {', '.join(published.cosigners)} "
        f"(quorum 2 of 2 partner witnesses):",
        soft_wrap=True,
    )
    ctx.console.print(
        published.note.decode("utf-8"), markup=False, highlight=False, end="", soft_wrap=True
    )
    return published


def _receipt(ctx: DemoContext, db: Engine, keys: Any, policy: Any, folder: Path) -> None:
    import json

    from creditgraph.audit import note, proofs
    from creditgraph.audit.receipt import verify_receipt
    from creditgraph.store.models import DecisionRecord, table_of

    decisions = table_of(DecisionRecord)
    with db.connect() as conn:
        decision_id = conn.execute(
            select(decisions.c.id)
            .where(decisions.c.outcome == "approve")
            .order_by(decisions.c.created_at, decisions.c.id)
            .limit(1)
        ).scalar_one()
    proof = proofs.prove(db, keys, "decision", decision_id, policy=policy)
    receipt_path = folder / f"{decision_id}.tlog-proof"
    opening_path = folder / f"{decision_id}.opening.json"
    receipt_path.write_bytes(proof.receipt)
    opening_path.write_bytes(proof.opening_json())
    # offline: only the files and the public keys, as a partner or the borrower has them
    log_key = note.parse_verifier((ctx.settings.keys_dir / "audit.pub").read_text().strip())
    verified = verify_receipt(receipt_path.read_bytes(), log_key, policy=policy)
    why = proofs.check_opening(verified.entry, json.loads(opening_path.read_text()))
    if why is not None:
        raise RuntimeError(f"the demo's receipt does not open: {why}")
    ctx.console.print(
        f"receipt 回执 for decision {decision_id}: leaf {verified.index} of "
        f"{verified.checkpoint.size}, verified offline with audit.pub and the witnesses' keys "
        f"({len(verified.cosigners)} cosignatures), opening matches the decision → "
        f"{receipt_path}",
        soft_wrap=True,
    )


def _tamper(ctx: DemoContext, db: Engine, keys: Any) -> None:
    from creditgraph.audit.verify import verify
    from creditgraph.store.models import AuditRecord, Consent, table_of

    consents, records = table_of(Consent), table_of(AuditRecord)
    verifiers = [s.verifier() for s in keys.signers]
    with db.connect() as conn:
        logged = conn.execute(
            select(records.c.record_id)
            .where(records.c.kind == "consent", records.c.salt.is_not(None))
            .order_by(records.c.leaf_index.desc())
            .limit(1)
        ).scalar_one()
        consent_id, granted_at = conn.execute(
            select(consents.c.id, consents.c.granted_at).where(consents.c.id == int(logged))
        ).one()
    with ctx.console.status("verifying every entry against the live records…"):
        clean = verify(db, verifiers)
    ctx.console.print(
        f"audit verify 全量校验: {clean.records_checked:,} records recomputed, "
        f"{clean.tiles_checked:,} tiles, root matches the signed checkpoint: "
        + ("OK" if clean.ok else f"FAILED ({clean.first.describe() if clean.first else ''})"),
        soft_wrap=True,
    )
    backdated = granted_at - timedelta(days=30)
    with db.begin() as conn:  # an insider backdates a consent, straight in the database
        conn.execute(
            update(consents).where(consents.c.id == consent_id).values(granted_at=backdated)
        )
    try:
        with ctx.console.status("verifying again after the change…"):
            report = verify(db, verifiers)
    finally:
        with db.begin() as conn:
            conn.execute(
                update(consents).where(consents.c.id == consent_id).values(granted_at=granted_at)
            )
    first = report.first
    if first is None:
        raise RuntimeError("the demo's tampered consent was not caught")
    ctx.console.print(
        f"tampered record caught 篡改已发现: consent {consent_id} backdated 30 days → "
        f"first changed entry is {first.describe()} (the record is put back)",
        soft_wrap=True,
    )


def _split_view(
    ctx: DemoContext, db: Engine, keys: Any, url_b: str, store_b: Any, size: int
) -> None:
    """Sign a second tree of the published size, differing in its last entry, and show it to
    partner B's witness, which cosigned the real one."""
    from creditgraph.audit import commitment, merkle, tile_store
    from creditgraph.audit.checkpoint import Checkpoint, sign_checkpoint
    from creditgraph.audit.tiles import TILE_WIDTH, Bundle, decode_bundle
    from creditgraph.audit.witness_client import ask_witness

    with db.connect() as conn:
        entries: list[bytes] = []
        for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, size - index * TILE_WIDTH)
            data = tile_store.read_bundle(conn, Bundle(index, width))
            entries.extend(decode_bundle(data or b"")[:width])
    forked = [*entries[:-1], commitment.entry("decision", bytes(32))]
    fork_note = sign_checkpoint(
        Checkpoint(keys.origin, size, merkle.root(forked)), list(keys.signers)
    )
    outcome = ask_witness(PARTNERS[1], url_b, size, size, lambda old: [], fork_note)
    evidence = store_b.evidence(keys.origin)
    if outcome.cosignatures:
        raise RuntimeError("partner B's witness cosigned a split view")
    ctx.console.print(
        f"split view 分叉视图: the log signed a second tree of size {size} for partner B; "
        f"{outcome.detail}; conflict reported"
        + (f", {len(evidence)} piece(s) of evidence kept by the witness" if evidence else ""),
        soft_wrap=True,
    )
