"""Offline receipts: one log entry, its inclusion proof and the signed checkpoint it leads to.

A partner or a borrower keeps a receipt and checks it later with only the log's public key (and
its witnesses' keys): no database, no network. The text follows C2SP ``tlog-proof``
(https://c2sp.org/tlog-proof) where it fits. Exactly what this module writes, each line ending
in LF::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry>
    index <decimal leaf index>
    <base64 inclusion proof hash>      (zero or more, RFC 9162 order, leaf upward)

    <the signed checkpoint note, with any witness cosignature lines>

The ``extra`` line carries the log entry itself: the commitment bytes the lender logged (an
HMAC of the record under its salt, never personal data). The spec leaves ``extra`` to the
application; putting the entry there keeps a receipt one self-contained text, so the verifier
recomputes the RFC 6962 leaf hash from it rather than trusting a hash handed over. The spec
warns that extra data is not authenticated: here the inclusion proof is what authenticates it,
so a verified receipt says "this entry is in the log", and a partner who holds the record
compares ``VerifiedReceipt.entry`` with the commitment it computes itself. The spec lets a proof
omit ``extra``; a receipt never does, and an entry is never empty. Parsing is strict, one
spelling per receipt: canonical base64, no leading zeros. The spec's file extension for a
receipt is ``.tlog-proof``.

What verification proves, and what it cannot tell apart: a changed entry byte and a changed
proof hash both lead to another root (``InclusionProofError``, with the root reached); a
changed checkpoint size or root breaks the log's signature (``CheckpointSignatureError``).

Pure: bytes in, bytes and plain values out.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from creditgraph.audit import merkle, note
from creditgraph.audit.checkpoint import (
    HASH_SIZE,
    Checkpoint,
    CheckpointError,
    MissingLogSignatureError,
    OriginMismatchError,
    open_checkpoint,
)
from creditgraph.audit.cosignature import (
    CosignatureError,
    CosignatureVerifier,
    verify_cosignatures,
)
from creditgraph.audit.witness_policy import WitnessPolicy, satisfied

HEADER = b"c2sp.org/tlog-proof@v1"
"""The first line of every receipt: the format and its version."""

MAX_PROOF_HASHES = 64
"""An inclusion proof in a tree of at most 2^64 - 1 leaves has at most 64 hashes."""

MAX_INDEX = 2**64 - 2
"""The largest leaf index of a tree of at most 2^64 - 1 leaves."""

_INDEX = re.compile(rb"index (0|[1-9][0-9]*)")


class ReceiptError(ValueError):
    """A receipt could not be read, written or trusted; the message says what failed."""


class MalformedReceiptError(ReceiptError):
    """The text breaks the receipt format (header, extra, index, proof lines, checkpoint)."""


class CheckpointSignatureError(ReceiptError):
    """The log's key is known but its signature on the checkpoint fails (a changed checkpoint)."""


class UntrustedCheckpointError(ReceiptError):
    """No signature by the given log key is on the checkpoint (another log's key, say)."""


class ReceiptOriginError(ReceiptError):
    """The checkpoint is for another log than the origin the verifier expected."""


class InclusionProofError(ReceiptError):
    """The entry, index and proof do not lead to the checkpoint's root at its size."""


class CosignatureFailureError(ReceiptError):
    """A known witness's cosignature on the checkpoint does not verify."""


class WitnessPolicyNotMetError(ReceiptError):
    """The witnesses whose cosignatures verified do not meet the witness policy."""


@dataclass(frozen=True)
class Receipt:
    """A log entry, its leaf index, its inclusion proof and the signed checkpoint (note bytes)."""

    entry: bytes
    index: int
    proof: tuple[bytes, ...]
    signed_checkpoint: bytes

    def __post_init__(self) -> None:
        if not self.entry:
            raise MalformedReceiptError("receipt entry is empty")
        if isinstance(self.index, bool) or not 0 <= self.index <= MAX_INDEX:
            raise MalformedReceiptError(f"receipt index {self.index} is not in 0..2^64-2")
        if len(self.proof) > MAX_PROOF_HASHES:
            raise MalformedReceiptError(
                f"receipt proof has {len(self.proof)} hashes, over {MAX_PROOF_HASHES}"
            )
        for position, item in enumerate(self.proof):
            if len(item) != HASH_SIZE:
                raise MalformedReceiptError(
                    f"receipt proof hash {position} is {len(item)} bytes, not {HASH_SIZE}"
                )
        if not self.signed_checkpoint.endswith(b"\n") or b"\n\n" not in self.signed_checkpoint:
            raise MalformedReceiptError(
                "receipt checkpoint is not a signed note (text, blank line, signature lines)"
            )


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a receipt proved: the entry is leaf ``index`` of the checkpoint's tree."""

    entry: bytes
    index: int
    checkpoint: Checkpoint
    cosigners: Mapping[str, int] = field(default_factory=dict)
    """Witness key names whose cosignature verified, with the time each cosigned."""


def make_receipt(
    entry: bytes, index: int, proof: Sequence[bytes], signed_checkpoint: bytes
) -> Receipt:
    """A receipt from its parts; the shape is checked here, the proof by ``verify_receipt``."""
    return Receipt(bytes(entry), index, tuple(bytes(p) for p in proof), bytes(signed_checkpoint))


def format_receipt(receipt: Receipt) -> bytes:
    """The receipt's text, as the module docstring writes it."""
    lines = [
        HEADER,
        b"extra " + base64.b64encode(receipt.entry),
        b"index " + str(receipt.index).encode("ascii"),
        *(base64.b64encode(p) for p in receipt.proof),
    ]
    return b"".join(line + b"\n" for line in lines) + b"\n" + receipt.signed_checkpoint


def _b64(value: bytes, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedReceiptError(f"receipt {what} is not base64") from exc
    if base64.b64encode(raw) != value:
        raise MalformedReceiptError(f"receipt {what} is not canonical base64")
    return raw


def parse_receipt(text: bytes) -> Receipt:
    """A receipt from its text; anything but the one spelling ``format_receipt`` writes fails."""
    split = text.find(b"\n\n")
    if split < 0:
        raise MalformedReceiptError("receipt has no blank line before its checkpoint")
    head, signed_checkpoint = text[:split].split(b"\n"), text[split + 2 :]
    if head[0] != HEADER:
        raise MalformedReceiptError(
            f"receipt does not start with {HEADER.decode()!r}: {head[0][:40]!r}"
        )
    if len(head) < 3:
        raise MalformedReceiptError("receipt needs an extra line and an index line")
    if not head[1].startswith(b"extra "):
        raise MalformedReceiptError(f"receipt line 2 is not 'extra <base64>': {head[1][:40]!r}")
    entry = _b64(head[1][len(b"extra ") :], "entry (extra line)")
    match = _INDEX.fullmatch(head[2])
    if match is None:
        raise MalformedReceiptError(
            f"receipt line 3 is not 'index <decimal without leading zeros>': {head[2][:40]!r}"
        )
    proof = tuple(_b64(line, f"proof hash {position}") for position, line in enumerate(head[3:]))
    return make_receipt(entry, int(match.group(1)), proof, signed_checkpoint)


def verify_receipt(
    receipt_bytes: bytes,
    log_verifier: note.Verifier,
    *,
    origin: str | None = None,
    witness_verifiers: Iterable[CosignatureVerifier] = (),
    policy: WitnessPolicy | None = None,
) -> VerifiedReceipt:
    """Check a receipt's text offline; raise the ``ReceiptError`` naming the first check failed.

    In order: the format; the checkpoint signed by ``log_verifier`` for ``origin`` (default the
    key's name, which C2SP makes the log's origin); the entry's leaf hash at its index leading
    to the checkpoint's root at its size; then, when witnesses or a policy are given, every
    known witness's cosignature, and the policy met by those that verified (the policy's own
    witnesses are known when ``witness_verifiers`` is empty).
    """
    receipt = parse_receipt(receipt_bytes)
    expected_origin = log_verifier.name if origin is None else origin
    try:
        opened = open_checkpoint(
            receipt.signed_checkpoint, origin=expected_origin, verifier=log_verifier
        )
    except note.InvalidSignatureError as exc:
        raise CheckpointSignatureError(f"checkpoint signature: {exc}") from exc
    except MissingLogSignatureError as exc:
        raise UntrustedCheckpointError(str(exc)) from exc
    except note.UnverifiedNoteError as exc:
        raise UntrustedCheckpointError(
            f"checkpoint is not signed by the log key "
            f"{log_verifier.name}+{log_verifier.key_id:08x}: {exc}"
        ) from exc
    except OriginMismatchError as exc:
        raise ReceiptOriginError(str(exc)) from exc
    except (note.NoteError, CheckpointError) as exc:
        raise MalformedReceiptError(f"receipt checkpoint: {exc}") from exc
    checkpoint = opened.checkpoint
    try:
        merkle.verify_inclusion(
            merkle.leaf_hash(receipt.entry),
            receipt.index,
            checkpoint.size,
            receipt.proof,
            checkpoint.root_hash,
        )
    except merkle.MerkleError as exc:
        raise InclusionProofError(f"entry is not in the checkpoint's tree: {exc}") from exc
    witnesses = tuple(witness_verifiers)
    if not witnesses and policy is not None:
        witnesses = policy.verifiers()
    cosigners: dict[str, int] = {}
    if witnesses:
        try:
            cosigners = verify_cosignatures(receipt.signed_checkpoint, witnesses)
        except (CosignatureError, note.NoteError) as exc:
            raise CosignatureFailureError(f"witness cosignature: {exc}") from exc
    if policy is not None and not satisfied(policy, cosigners):
        named = ", ".join(sorted(cosigners)) or "none"
        raise WitnessPolicyNotMetError(
            f"witness policy quorum {policy.quorum!r} is not met (verified cosigners: {named})"
        )
    return VerifiedReceipt(receipt.entry, receipt.index, checkpoint, cosigners)
