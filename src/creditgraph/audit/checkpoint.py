"""C2SP tlog checkpoints (https://c2sp.org/tlog-checkpoint): a log's tree head as a signed note.

The note text is the origin, the decimal tree size and the base64 RFC 6962 root hash, one per
line, then optional extension lines. Witnesses and partners parse exactly this text, so parsing
is strict: one spelling per checkpoint (no leading zeros, canonical base64, a 32-byte root).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from creditgraph.audit import note
from creditgraph.audit.note import OpenedNote, Signer, Verifier

HASH_SIZE = 32
"""An RFC 6962 root hash is a SHA-256 digest."""

MAX_TREE_SIZE = 2**64 - 1
"""Tree sizes are unsigned 64-bit integers, as in every other implementation of the format."""

_SIZE = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(ValueError):
    """A checkpoint could not be read, written or trusted; the message says what failed."""


class MalformedCheckpointError(CheckpointError):
    """The note text breaks the checkpoint format."""


class OriginMismatchError(CheckpointError):
    """The checkpoint is for another log than the one the reader expected."""


class MissingLogSignatureError(CheckpointError):
    """The note verified, but not with the log's own key (only with others, e.g. witnesses)."""


@dataclass(frozen=True)
class Checkpoint:
    """A log's origin, tree size and root hash, with any extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise MalformedCheckpointError("checkpoint origin is empty")
        for label, line in [
            ("origin", self.origin),
            *(("extension line", e) for e in self.extensions),
        ]:
            if not line:
                raise MalformedCheckpointError(f"checkpoint {label} is empty")
            if any(ord(ch) < 0x20 for ch in line):
                raise MalformedCheckpointError(
                    f"checkpoint {label} {line[:40]!r} contains a newline or control character"
                )
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedCheckpointError(f"tree size {self.size} is not in 0..2^64-1")
        if len(self.root_hash) != HASH_SIZE:
            raise MalformedCheckpointError(
                f"root hash is {len(self.root_hash)} bytes, not {HASH_SIZE}"
            )


def format_checkpoint(checkpoint: Checkpoint) -> bytes:
    """The checkpoint's note text: origin, size, base64 root, extension lines, each ending in LF."""
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        base64.b64encode(checkpoint.root_hash).decode("ascii"),
        *checkpoint.extensions,
    ]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def parse_checkpoint(text: bytes) -> Checkpoint:
    """A checkpoint from its note text (not the signed note; see ``open_checkpoint``)."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedCheckpointError(f"checkpoint text is not valid UTF-8: {exc}") from exc
    if not decoded.endswith("\n"):
        raise MalformedCheckpointError("checkpoint text does not end with a newline")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpointError(
            f"checkpoint text has {len(lines)} lines, needs origin, size and root hash"
        )
    origin, size_text, root_text, *extensions = lines
    if not _SIZE.fullmatch(size_text):
        raise MalformedCheckpointError(
            f"tree size {size_text[:40]!r} is not a decimal number without leading zeros"
        )
    try:
        root_hash = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCheckpointError(f"root hash {root_text[:60]!r} is not base64") from exc
    if base64.b64encode(root_hash).decode("ascii") != root_text:
        raise MalformedCheckpointError(f"root hash {root_text[:60]!r} is not canonical base64")
    return Checkpoint(origin, int(size_text), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[Signer]) -> bytes:
    """The checkpoint as a signed note; the log's key name should be its origin."""
    return note.sign(format_checkpoint(checkpoint), signers)


@dataclass(frozen=True)
class OpenedCheckpoint:
    """A checkpoint the log's key signed, with the note (and its other signatures) it came in."""

    checkpoint: Checkpoint
    note: OpenedNote


def open_checkpoint(
    signed: bytes,
    *,
    origin: str,
    verifier: Verifier,
    others: Iterable[Verifier] = (),
) -> OpenedCheckpoint:
    """Verify ``signed`` as a checkpoint of the log ``origin`` signed by the log's ``verifier``.

    ``others`` (witnesses' keys, say) are verified too when their signatures are present, but
    they never stand in for the log's own signature. Unknown signatures are ignored. Errors of
    the note itself (``note.UnverifiedNoteError`` when no known key signed,
    ``note.InvalidSignatureError`` when a known one fails) pass through unchanged.
    """
    opened = note.open(signed, [verifier, *others])
    if not any(s.name == verifier.name and s.key_id == verifier.key_id for s in opened.signatures):
        raise MissingLogSignatureError(
            f"checkpoint is not signed by the log key {verifier.name}+{verifier.key_id:08x}"
        )
    checkpoint = parse_checkpoint(opened.text)
    if checkpoint.origin != origin:
        raise OriginMismatchError(
            f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}"
        )
    return OpenedCheckpoint(checkpoint, opened)
