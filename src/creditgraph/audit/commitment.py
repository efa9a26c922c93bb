"""What a leaf of the audit log holds: a salted commitment to one record, never the record.

A commitment is HMAC-SHA256, keyed by a fresh 32-byte salt per record, of the record's
*opening*: the canonical JSON of its kind, its id and the fields the log vouches for. The salt
stays in the lender's database. Whoever holds the salt and the record (the lender, an auditor it
lets in, the borrower handed their own decision's opening) can recompute the commitment and
match it with the entry the log proves; whoever holds only the log learns nothing, not even which
record an entry is about (the record id is inside the HMAC). Destroying the salt on erasure
leaves the entry and the tree as they were, verifiable, and unlinkable to anyone.

The entry is one line of text, ``creditgraph.audit/v1 <kind> <commitment hex>``, so a partner
reading the log's entry bundles sees what kind of record each leaf is and nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from creditgraph.canonical import canonical_json

SALT_SIZE = 32
COMMITMENT_SIZE = 32
ENTRY_PREFIX = b"creditgraph.audit/v1 "

_KIND = re.compile(r"[a-z][a-z0-9_]{0,29}")
_ENTRY = re.compile(rb"creditgraph\.audit/v1 ([a-z][a-z0-9_]{0,29}) ([0-9a-f]{64})")


class CommitmentError(ValueError):
    """An entry or an opening does not have the form this log writes."""


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_SIZE)


def opening(kind: str, record_id: str, fields: Mapping[str, Any]) -> bytes:
    """The bytes a commitment is made over: the canonical JSON of kind, id and fields."""
    if not _KIND.fullmatch(kind):
        raise CommitmentError(f"record kind {kind!r} is not lower-case letters, digits and _")
    message = {"kind": kind, "id": record_id, "fields": dict(fields)}
    return canonical_json(message).encode("utf-8")


def commit(salt: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of an opening under its record's salt."""
    if len(salt) != SALT_SIZE:
        raise CommitmentError(f"a salt is {SALT_SIZE} bytes, not {len(salt)}")
    return hmac.new(salt, message, hashlib.sha256).digest()


def entry(kind: str, commitment: bytes) -> bytes:
    """The leaf's data: the record's kind and its commitment, as one line without a newline."""
    if len(commitment) != COMMITMENT_SIZE:
        raise CommitmentError(f"a commitment is {COMMITMENT_SIZE} bytes, not {len(commitment)}")
    if not _KIND.fullmatch(kind):
        raise CommitmentError(f"record kind {kind!r} is not lower-case letters, digits and _")
    return ENTRY_PREFIX + kind.encode() + b" " + commitment.hex().encode()


@dataclass(frozen=True)
class Entry:
    kind: str
    commitment: bytes


def parse_entry(data: bytes) -> Entry:
    """An entry's kind and commitment; refuses anything this log would not have written."""
    found = _ENTRY.fullmatch(data)
    if found is None:
        raise CommitmentError("not a creditgraph.audit/v1 entry")
    return Entry(found.group(1).decode(), bytes.fromhex(found.group(2).decode()))


def opens(data: bytes, salt: bytes, message: bytes) -> bool:
    """Does ``message`` under ``salt`` open the entry ``data``, of the kind the entry names?
    The commitment is compared in constant time."""
    try:
        parsed = parse_entry(data)
        expected = commit(salt, message)
        said = json.loads(message)
    except (CommitmentError, ValueError):
        return False
    if not isinstance(said, dict) or said.get("kind") != parsed.kind:
        return False
    return hmac.compare_digest(parsed.commitment, expected)
