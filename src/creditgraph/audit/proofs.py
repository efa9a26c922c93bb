"""Receipts for one record, from the database: what ``audit prove`` and the proof route hand out.

A receipt (C2SP ``tlog-proof``, :mod:`creditgraph.audit.receipt`) proves that the record's
latest entry is in a checkpoint the log signed and its witnesses cosigned. The *opening* that
goes with it (the record's salt and the canonical fields committed to) is what links the entry
to the record: with both, a borrower or a partner recomputes the commitment offline. A receipt
is asked for on demand, so pending commitments are integrated and a checkpoint published first
when the latest one does not cover the record yet.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from creditgraph.audit import commitment, tile_store
from creditgraph.audit.kinds import kind_of
from creditgraph.audit.receipt import format_receipt, make_receipt
from creditgraph.audit.sequencer import LogKeys, cover
from creditgraph.audit.tiles import TILE_WIDTH, Bundle, decode_bundle
from creditgraph.audit.witness_policy import WitnessPolicy, parse_witness_policy
from creditgraph.canonical import canonical_json
from creditgraph.store.models import AuditRecord, table_of

RECORDS = table_of(AuditRecord)
OPENING_FORMAT = "creditgraph.audit/opening/v1"


class ProofUnavailableError(LookupError):
    """No receipt can be made for the record; the message says why."""


class WitnessPolicyFileError(ValueError):
    """The witness policy file is missing or invalid; the message names the file."""


def load_policy(path: Path | None) -> WitnessPolicy | None:
    """The witness policy from its TOML file, or None when no file is configured."""
    if path is None:
        return None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return parse_witness_policy(raw)
    except OSError as exc:
        raise WitnessPolicyFileError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise WitnessPolicyFileError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class RecordProof:
    kind: str
    record_id: str
    leaf_index: int
    tree_size: int
    receipt: bytes
    opening: dict[str, Any]

    def opening_json(self) -> bytes:
        return json.dumps(self.opening, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def prove(
    engine: Engine,
    keys: LogKeys,
    kind: str,
    record_id: str,
    *,
    policy: WitnessPolicy | None = None,
) -> RecordProof:
    """The receipt and opening of the latest commitment to a record."""
    kind_of(kind)
    with engine.connect() as conn:
        row = conn.execute(
            select(RECORDS)
            .where(RECORDS.c.kind == kind, RECORDS.c.record_id == record_id)
            .order_by(RECORDS.c.id.desc())
            .limit(1)
        ).first()
    if row is None:
        raise ProofUnavailableError(f"no {kind} {record_id!r} is in the audit log")
    if row.salt is None:
        raise ProofUnavailableError(
            f"{kind} {record_id!r} was erased: its entry stays in the log, unlinkable"
        )
    published = cover(engine, keys, row.leaf_index, policy=policy)
    with engine.connect() as conn:
        index = conn.execute(select(RECORDS.c.leaf_index).where(RECORDS.c.id == row.id)).scalar()
        if published is None or index is None or index >= published.size:
            raise ProofUnavailableError(
                f"no published checkpoint covers {kind} {record_id!r} yet"
                + (f" ({published.detail})" if published is not None else "")
            )
        bundle = Bundle(
            index // TILE_WIDTH, min(TILE_WIDTH, published.size - index // TILE_WIDTH * TILE_WIDTH)
        )
        data = tile_store.read_bundle(conn, bundle)
        if data is None:
            raise ProofUnavailableError(f"the entry bundle of leaf {index} is missing")
        entry = decode_bundle(data)[index % TILE_WIDTH]
        proof = tile_store.inclusion_proof(conn, index, published.size)
        loaded = kind_of(kind).load(conn, [record_id])
    receipt = format_receipt(make_receipt(entry, index, proof, published.note))
    fields = loaded[record_id][1] if record_id in loaded else None
    opening = {
        "format": OPENING_FORMAT,
        "kind": kind,
        "record_id": record_id,
        "salt": bytes(row.salt).hex(),
        "message": (
            commitment.opening(kind, record_id, fields).decode("utf-8")
            if fields is not None
            else None
        ),
    }
    return RecordProof(kind, record_id, index, published.size, receipt, opening)


def check_opening(entry: bytes, opening: dict[str, Any]) -> str | None:
    """Why an opening does not open the receipt's entry, or None when it does."""
    if opening.get("format") != OPENING_FORMAT:
        return f"the opening's format is not {OPENING_FORMAT}"
    message, salt = opening.get("message"), opening.get("salt")
    if not isinstance(message, str) or not isinstance(salt, str):
        return "the opening needs a salt and a message"
    try:
        salt_bytes = bytes.fromhex(salt)
        parsed = json.loads(message)
    except ValueError:
        return "the opening's salt is not hex or its message not JSON"
    if not isinstance(parsed, dict) or canonical_json(parsed) != message:
        return "the opening's message is not canonical JSON (one spelling per record)"
    if parsed.get("kind") != opening.get("kind") or parsed.get("id") != opening.get("record_id"):
        return "the opening's message is about another record"
    try:
        if commitment.parse_entry(entry).kind != opening.get("kind"):
            return "the entry is of another kind of record"
    except commitment.CommitmentError as exc:
        return str(exc)
    if not commitment.opens(entry, salt_bytes, message.encode("utf-8")):
        return "the record and salt do not make the entry's commitment"
    return None
