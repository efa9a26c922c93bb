"""``creditgraph audit``: the tamper-evident audit log from the command line.

``verify-receipt`` needs only a receipt and the log's public key, so a partner, an auditor or a
borrower runs it with no database and no home. The other commands work on this home's log:
its key (``key``, ``rotate-key``), the sequencer (``sequence``, ``checkpoint``), receipts for a
record (``prove``) and the full check of the log against the live records (``verify``).
Key files: see :mod:`creditgraph.audit.keyfile`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from creditgraph.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from creditgraph.audit.sequencer import LogKeys
    from creditgraph.audit.witness_policy import WitnessPolicy

audit_app = typer.Typer(
    help="The audit log: keys, checkpoints, receipts, full verification.", no_args_is_help=True
)
T = TypeVar("T")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _keys() -> LogKeys:
    from creditgraph.audit.keyfile import AuditKeyFileError, load_or_create

    try:
        return load_or_create(get_settings().keys_dir)
    except (AuditKeyFileError, OSError) as exc:
        raise _fail(str(exc)) from None


def _policy() -> WitnessPolicy | None:
    from creditgraph.audit.proofs import WitnessPolicyFileError, load_policy

    try:
        return load_policy(get_settings().audit_witness_policy)
    except WitnessPolicyFileError as exc:
        raise _fail(f"witness policy {exc}") from None


@contextmanager
def _engine() -> Iterator[Engine]:
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as engine:
        yield engine


def _with_engine(action: Callable[[Engine], T]) -> T:
    with _engine() as engine:
        return action(engine)


@audit_app.command("key")
def audit_key() -> None:
    """Print the log's public verifier key, from keys/audit.pub in the home; made at first use."""
    from creditgraph.audit import note

    typer.echo(note.format_verifier(_keys().signers[0].verifier()))


@audit_app.command("rotate-key")
def audit_rotate_key(
    finish: bool = typer.Option(
        False, "--finish", help="Stop signing with the previous key (keep it under audit-retired/)."
    ),
) -> None:
    """Start a key rotation (new key; checkpoints signed by both until --finish), or finish it."""
    from creditgraph.audit import keyfile, note

    keys_dir = get_settings().keys_dir
    try:
        if finish:
            retired = keyfile.finish_rotation(keys_dir)
            typer.echo(f"rotation finished; the previous key is kept as {retired}")
            return
        keys = keyfile.rotate(keys_dir)
    except (keyfile.AuditKeyFileError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo("new key:      " + note.format_verifier(keys.signers[0].verifier()))
    typer.echo("previous key: " + note.format_verifier(keys.signers[1].verifier()))
    typer.echo("checkpoints are signed by both until `creditgraph audit rotate-key --finish`")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Integrate pending entries and publish a checkpoint now; print the latest published one."""
    from creditgraph.audit.sequencer import integrate_all, latest, publish

    keys, policy = _keys(), _policy()

    def run(engine: Engine) -> None:
        added = integrate_all(engine)
        made = publish(engine, keys, policy=policy)
        with engine.connect() as conn:
            current = latest(conn)
        typer.echo(f"integrated {added} entries", err=True)
        if made is not None and not made.published:
            typer.echo(f"checkpoint of size {made.size} not published: {made.detail}", err=True)
        if current is None:
            raise _fail("no checkpoint is published yet")
        typer.echo(current.note.decode("utf-8"), nl=False)
        if made is not None and not made.published:
            raise typer.Exit(2)

    _with_engine(run)


@audit_app.command("backfill")
def audit_backfill() -> None:
    """Commit every record written before the log began (run once after upgrading)."""
    from creditgraph.audit.kinds import KINDS
    from creditgraph.audit.outbox import backfill

    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            counts = {kind: backfill(conn, kind) for kind in KINDS}
        for kind, count in counts.items():
            typer.echo(f"{kind}: {count:,} committed")

    _with_engine(run)


@audit_app.command("sequence")
def audit_sequence(
    interval: float = typer.Option(0.5, min=0.05, help="Seconds between integrations."),
) -> None:
    """Run the sequencer: integrate pending entries and publish checkpoints until interrupted."""
    from creditgraph.audit.sequencer import run

    keys, policy = _keys(), _policy()
    stop = threading.Event()
    typer.echo(f"sequencing log {keys.origin} every {interval} s; Ctrl-C stops", err=True)
    try:
        _with_engine(lambda engine: run(engine, keys, policy=policy, interval=interval, stop=stop))
    except KeyboardInterrupt:
        stop.set()


@audit_app.command("prove")
def audit_prove(
    kind: str = typer.Argument(..., help="Record kind: decision, consent, model_version, ..."),
    record_id: str = typer.Argument(..., help="The record's id (a day end's is its date)."),
    out: Path = typer.Option(..., "--out", help="Receipt file; the opening goes beside it."),
) -> None:
    """Write an offline receipt for a record (and its opening, FILE.opening.json)."""
    from creditgraph.audit.kinds import UnknownKindError
    from creditgraph.audit.proofs import ProofUnavailableError, prove

    keys, policy = _keys(), _policy()
    try:
        proof = _with_engine(lambda engine: prove(engine, keys, kind, record_id, policy=policy))
    except (ProofUnavailableError, UnknownKindError) as exc:
        raise _fail(str(exc).strip("'\"")) from None
    opening = out.with_name(out.name + ".opening.json")
    try:
        out.write_bytes(proof.receipt)
        opening.write_bytes(proof.opening_json())
    except OSError as exc:
        raise _fail(f"{out}: {exc.strerror or exc}") from None
    typer.echo(
        f"receipt for {kind} {record_id}: leaf {proof.leaf_index} of {proof.tree_size}, "
        f"written to {out} (opening: {opening})"
    )


@audit_app.command("verify")
def audit_verify(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Recompute every leaf from the live records and the whole tree; exit 1 naming the first
    changed entry."""
    from creditgraph.audit.keyfile import AuditKeyFileError, all_verifiers
    from creditgraph.audit.verify import verify
    from creditgraph.console.progress import RowProgress

    try:
        verifiers = all_verifiers(get_settings().keys_dir)
    except (AuditKeyFileError, OSError) as exc:
        raise _fail(str(exc)) from None
    err = Console(stderr=True)
    with _engine() as engine:
        from creditgraph.audit import tile_store

        with engine.connect() as conn:
            total = tile_store.tree_size(conn)
        with RowProgress(err) as bars:
            report = verify(
                engine, verifiers, progress=lambda done: bars.update("leaves", done, total)
            )
    summary: dict[str, Any] = {
        "ok": report.ok,
        "tree_size": report.tree_size,
        "checkpoint_size": report.checkpoint_size,
        "records_checked": report.records_checked,
        "superseded": report.superseded,
        "unlinkable_erased": report.unlinkable,
        "pending": report.pending,
        "tiles_checked": report.tiles_checked,
        "problems": len(report.problems),
        "first_problem": None,
    }
    first = report.first
    if first is not None:
        summary["first_problem"] = {
            "leaf_index": first.leaf_index,
            "kind": first.kind,
            "record_id": first.record_id,
            "what": first.what,
        }
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        typer.echo(
            f"tree of {report.tree_size} leaves (published checkpoint {report.checkpoint_size}); "
            f"{report.records_checked} records recomputed, {report.superseded} superseded, "
            f"{report.unlinkable} unlinkable by erasure, {report.pending} pending, "
            f"{report.tiles_checked} tiles"
        )
    if first is not None:
        typer.echo(
            f"TAMPERED: first changed entry is {first.describe()} "
            f"({len(report.problems)} problem(s) in all)",
            err=True,
        )
        raise typer.Exit(1)
    if not as_json:
        typer.echo("verified: every record matches its entry and the tree its signed checkpoint")


@audit_app.command("verify-receipt")
def audit_verify_receipt(
    file: Path = typer.Argument(..., help="The receipt (C2SP tlog-proof text)."),
    key: str = typer.Option(
        ..., "--key", help="The log's verifier key string, or a file holding one."
    ),
    origin: str | None = typer.Option(
        None, "--origin", help="The log's origin, if not the key's name."
    ),
    opening: Path | None = typer.Option(
        None, "--opening", help="The record's opening (JSON): check the entry commits to it."
    ),
    policy_file: Path | None = typer.Option(
        None, "--policy", help="A witness policy (TOML) the checkpoint's cosignatures must meet."
    ),
) -> None:
    """Check a receipt offline: the log's signature, the origin and the inclusion proof."""
    from creditgraph.audit import note
    from creditgraph.audit.proofs import WitnessPolicyFileError, check_opening, load_policy
    from creditgraph.audit.receipt import ReceiptError, verify_receipt

    try:
        key_path = Path(key)
        key_text = key_path.read_text().strip() if key_path.is_file() else key.strip()
        verifier = note.parse_verifier(key_text)
    except (note.NoteError, OSError, UnicodeDecodeError) as exc:
        raise _fail(f"log key: {exc}") from None
    try:
        policy = load_policy(policy_file)
    except WitnessPolicyFileError as exc:
        raise _fail(f"witness policy {exc}") from None
    try:
        receipt = file.read_bytes()
    except OSError as exc:
        raise _fail(f"receipt {file}: {exc.strerror or exc}") from None
    try:
        verified = verify_receipt(receipt, verifier, origin=origin, policy=policy)
    except ReceiptError as exc:
        raise _fail(f"receipt {file} refused: {exc}") from None
    checkpoint = verified.checkpoint
    typer.echo(
        f"verified: index {verified.index} in tree of size {checkpoint.size}, "
        f"origin {checkpoint.origin}"
        + (f", cosigned by {', '.join(sorted(verified.cosigners))}" if verified.cosigners else "")
    )
    if opening is not None:
        try:
            opened = json.loads(opening.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _fail(f"opening {opening}: {exc}") from None
        why = check_opening(verified.entry, opened if isinstance(opened, dict) else {})
        if why is not None:
            raise _fail(f"opening {opening} refused: {why}")
        typer.echo(f"opened: the entry commits to {opened['kind']} {opened['record_id']}")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
