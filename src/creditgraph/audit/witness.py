"""The decision of a witness's ``add-checkpoint`` (https://c2sp.org/tlog-witness), as a pure function.

A witness keeps, per log origin, only the last checkpoint it cosigned (size and root). The log
sends ``old <size>``, a consistency proof from that size, a blank line and its signed
checkpoint; the witness cosigns only a tree that extends what it saw, so a log that shows two
parties two different trees is caught by the first witness that sees both.

What is followed, in this order (the first failing check decides):

1. The body is ``old <decimal, no leading zeros>\\n``, at most 63 lines of one base64 32-byte
   hash each, an empty line, then a signed checkpoint note; anything else is 400.
2. The checkpoint's origin is not configured: 404.
3. None of the log keys configured for that origin verifies the note (signatures by unknown
   keys are ignored; a configured key's bad signature also refuses): 403.
4. The old size exceeds the checkpoint's size: 400.
5. The old size is not the size last cosigned for the origin (0 if none): 409, whose body is
   that stored size and a newline, as ``text/x.tlog.size``.
6. The old size equals the checkpoint's size: the root must be the stored one, else 409 (the
   log shows two views), and the proof empty, else 422; a size-0 checkpoint whose root is not
   the empty tree's is 422. Otherwise the proof must verify per RFC 9162 from the stored root
   to the checkpoint's, else 422; from old size 0 (nothing cosigned yet) it must be empty.
7. Otherwise: the cosignature lines to return (200), and the new state to store.

Atomicity is the caller's: ``Cosigned.previous`` is the state this decision was made against
and ``Cosigned.new_state`` the one to write; storage swaps only while ``previous`` is still
stored (compare-and-swap on the stored size), else decides again on the fresh state. The
response is sent only after the swap commits. Anything unexpected raises, so a server answers
500 and never a cosignature: the witness fails closed. A refused request whose log signature
verified may be kept as evidence of misbehaviour (the spec allows it); that is the server's.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from creditgraph.audit import merkle, note
from creditgraph.audit.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    CheckpointError,
    parse_checkpoint,
)
from creditgraph.audit.cosignature import CosignatureSigner, cosignature_line, split_note
from creditgraph.audit.note import NoteError, Verifier

MAX_PROOF_LINES = 63
"""A client must not send more consistency proof hashes than this."""

SIZE_CONTENT_TYPE = "text/x.tlog.size"
"""The media type of a 409 body: the witness's stored tree size and a newline."""

_SIZE = re.compile(rb"0|[1-9][0-9]*")


class MalformedRequestError(ValueError):
    """An add-checkpoint request body breaks the format; the message says where."""


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A parsed request: the size the log believes the witness holds, the proof, the note.

    ``checkpoint`` is parsed from the note's text but not yet verified by anyone.
    """

    old_size: int
    proof: tuple[bytes, ...]
    signed_checkpoint: bytes
    checkpoint: Checkpoint


def parse_request(body: bytes) -> AddCheckpointRequest:
    """The request from its body; raises ``MalformedRequestError`` (a 400) naming the fault."""
    head, sep, rest = body.partition(b"\n")
    if not sep or not head.startswith(b"old "):
        raise MalformedRequestError("the body does not start with an 'old <size>' line")
    size_text = head[4:]
    if not _SIZE.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise MalformedRequestError(
            f"old size {size_text[:30]!r} is not a decimal 0..2^64-1 without leading zeros"
        )
    proof: list[bytes] = []
    while True:
        line, sep, rest = rest.partition(b"\n")
        if not sep:
            raise MalformedRequestError("the body has no empty line before the checkpoint")
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise MalformedRequestError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        try:
            item = base64.b64decode(line, validate=True)
        except ValueError as exc:
            raise MalformedRequestError(f"proof line {len(proof) + 1} is not base64") from exc
        if base64.b64encode(item) != line or len(item) != merkle.HASH_SIZE:
            raise MalformedRequestError(
                f"proof line {len(proof) + 1} is not the canonical base64 of a 32-byte hash"
            )
        proof.append(item)
    try:
        text, _ = split_note(rest)
        checkpoint = parse_checkpoint(text)
    except (NoteError, CheckpointError) as exc:
        raise MalformedRequestError(f"the checkpoint is malformed: {exc}") from exc
    return AddCheckpointRequest(int(size_text), tuple(proof), rest, checkpoint)


def format_request(old_size: int, proof: Sequence[bytes], signed_checkpoint: bytes) -> bytes:
    """The body a log sends: ``old <size>``, base64 proof lines, an empty line, the note."""
    if not 0 <= old_size <= MAX_TREE_SIZE:
        raise MalformedRequestError(f"old size {old_size} is not in 0..2^64-1")
    if len(proof) > MAX_PROOF_LINES:
        raise MalformedRequestError(f"{len(proof)} proof hashes exceed {MAX_PROOF_LINES}")
    if any(len(item) != merkle.HASH_SIZE for item in proof):
        raise MalformedRequestError("every proof hash must be 32 bytes")
    lines = b"".join(base64.b64encode(item) + b"\n" for item in proof)
    return f"old {old_size}\n".encode() + lines + b"\n" + signed_checkpoint


@dataclass(frozen=True)
class WitnessState:
    """What a witness stores per origin: the size and root of the last checkpoint it cosigned."""

    size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValueError(f"stored size {self.size} is not in 0..2^64-1")
        if len(self.root_hash) != merkle.HASH_SIZE:
            raise ValueError(f"stored root is {len(self.root_hash)} bytes, not 32")


@dataclass(frozen=True)
class Refusal:
    """An add-checkpoint the witness does not cosign: an HTTP status and why."""

    status: ClassVar[int]
    reason: str

    @property
    def content_type(self) -> str:
        return "text/plain; charset=utf-8"

    def body(self) -> bytes:
        return self.reason.encode() + b"\n"


@dataclass(frozen=True)
class MalformedRequest(Refusal):
    """400: the body is malformed, or the old size is beyond the checkpoint's."""

    status: ClassVar[int] = 400


@dataclass(frozen=True)
class Forbidden(Refusal):
    """403: no key the witness trusts for this origin verifies the checkpoint."""

    status: ClassVar[int] = 403


@dataclass(frozen=True)
class UnknownOrigin(Refusal):
    """404: the witness witnesses no log of this origin."""

    status: ClassVar[int] = 404


@dataclass(frozen=True)
class Conflict(Refusal):
    """409: the old size is not the stored one, or the same size came with another root."""

    status: ClassVar[int] = 409
    stored_size: int = 0

    @property
    def content_type(self) -> str:
        return SIZE_CONTENT_TYPE

    def body(self) -> bytes:
        return f"{self.stored_size}\n".encode()


@dataclass(frozen=True)
class BadProof(Refusal):
    """422: the consistency proof does not lead from the stored tree to the checkpoint's."""

    status: ClassVar[int] = 422


@dataclass(frozen=True)
class Cosigned:
    """200: the cosignature lines to return, once ``new_state`` replaced ``previous``."""

    status: ClassVar[int] = 200
    cosignatures: bytes
    checkpoint: Checkpoint
    previous: WitnessState | None
    new_state: WitnessState
    timestamp: int


def add_checkpoint(
    stored: WitnessState | None,
    request: AddCheckpointRequest,
    *,
    log_keys: Mapping[str, Sequence[Verifier]],
    signers: Sequence[CosignatureSigner],
    now: int,
) -> Cosigned | Refusal:
    """Decide one add-checkpoint for the origin whose stored state is ``stored`` (None: never).

    ``log_keys`` maps each witnessed origin to the log keys trusted for it (several during a
    key rotation); ``signers`` are the witness's keys, each of which cosigns.
    """
    if not signers:
        raise ValueError("a witness needs at least one cosigning key")
    checkpoint = request.checkpoint
    keys = log_keys.get(checkpoint.origin)
    if not keys:
        return UnknownOrigin(f"no log of origin {checkpoint.origin!r} is witnessed here")
    try:
        note.open(request.signed_checkpoint, keys)
    except note.MalformedNoteError as exc:
        return MalformedRequest(f"the checkpoint note is malformed: {exc}")
    except NoteError as exc:
        return Forbidden(f"the checkpoint is not signed by a trusted key of its log: {exc}")
    if request.old_size > checkpoint.size:
        return MalformedRequest(
            f"old size {request.old_size} is beyond the checkpoint's size {checkpoint.size}"
        )
    stored_size = stored.size if stored is not None else 0
    if request.old_size != stored_size:
        return Conflict(
            f"old size {request.old_size} is not the last cosigned size {stored_size}",
            stored_size=stored_size,
        )
    stored_root = stored.root_hash if stored is not None else merkle.EMPTY_ROOT
    refusal = _check_growth(stored_size, stored_root, checkpoint, request.proof)
    if refusal is not None:
        return refusal
    new_state = WitnessState(checkpoint.size, checkpoint.root_hash)
    text, _ = split_note(request.signed_checkpoint)
    lines = b"".join(cosignature_line(text, signer, now) for signer in signers)
    return Cosigned(lines, checkpoint, stored, new_state, now)


def _check_growth(
    stored_size: int, stored_root: bytes, checkpoint: Checkpoint, proof: Sequence[bytes]
) -> Refusal | None:
    """The rules of step 6 of the module docstring, once the old size is the stored one."""
    if checkpoint.size == stored_size:
        if checkpoint.root_hash != stored_root and stored_size == 0:
            return BadProof(f"a tree of size 0 has root {merkle.EMPTY_ROOT.hex()}")
        if checkpoint.root_hash != stored_root:
            return Conflict(
                f"a tree of size {stored_size} with root {checkpoint.root_hash.hex()}, not the "
                f"cosigned {stored_root.hex()}: the log shows two views",
                stored_size=stored_size,
            )
        if proof:
            return BadProof(f"trees of equal size {stored_size} need an empty proof")
        return None
    if stored_size == 0:
        if proof:
            return BadProof("a consistency proof from size 0 must be empty")
        return None
    try:
        merkle.verify_consistency(
            stored_size, checkpoint.size, stored_root, checkpoint.root_hash, proof
        )
    except merkle.ProofError as exc:
        return BadProof(f"consistency from {stored_size} to {checkpoint.size}: {exc}")
    return None
