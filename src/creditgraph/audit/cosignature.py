"""C2SP witness cosignatures, Ed25519 type (https://c2sp.org/tlog-cosignature, v1).

A witness cosigns a checkpoint to say "as of this time, this is the largest consistent tree I
have seen for this origin". Partners count such cosignatures against a witness policy before
they trust a checkpoint, which is what defeats a split view.

Exactly what is signed: the Ed25519 signature (RFC 8032) of the bytes

    b"cosignature/v1\\n" + b"time " + decimal(timestamp) + b"\\n" + body

where ``body`` is the whole checkpoint note text (origin, size, root hash and any extension
lines, each ending in a newline; no signature lines) and the timestamp is POSIX seconds written
without leading zeros. The witness's name is not signed, so one key must serve one witness name.

- Signature line: ``— <witness name> base64(key id || u64 big-endian timestamp || signature)``,
  so the payload after the 4-byte key id is 8 + 64 bytes.
- Key id: the first four bytes of SHA-256(name || 0x0A || 0x04 || 32-byte public key), read
  big-endian (type 0x04, where a log's own signed-note key is 0x01).
- Verifier key string: ``<name>+<hex key id>+<base64(0x04 || public key)>``.

Pure: keys and notes in, bytes and plain values out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from creditgraph.audit import note
from creditgraph.audit.checkpoint import CheckpointError, parse_checkpoint
from creditgraph.audit.note import (
    MAX_SIGNATURES,
    SIGNATURE_PREFIX,
    DuplicateSignerError,
    KeyFormatError,
    MalformedNoteError,
    NoteError,
    Signature,
    TooManySignaturesError,
)

ALG_COSIGNATURE_ED25519 = 0x04
"""The signature type byte of Ed25519 cosignature/v1 in key ids and verifier key strings."""

HEADER = b"cosignature/v1\n"
"""The first line of every signed message: domain separation from the log's own signature."""

MAX_TIMESTAMP = 2**63 - 1
"""The spec caps a cosignature's timestamp at 2^63 - 1 seconds."""

TIMESTAMPED_SIGNATURE_SIZE = 8 + 64
"""A timestamped Ed25519 signature: the u64 timestamp then the 64-byte signature."""


class CosignatureError(ValueError):
    """A cosignature could not be made or trusted; the message says what failed."""


class InvalidCosignatureError(CosignatureError):
    """A known witness's cosignature line does not verify, or its payload is malformed."""


class MalformedCheckpointNoteError(CosignatureError):
    """The note to cosign or check is not a signed checkpoint."""


def key_id(name: str, public_key: bytes) -> int:
    """The cosignature key id: SHA-256(name || 0x0A || 0x04 || public key)[:4], big-endian."""
    note.Verifier(name, public_key)  # checks the name and the key length
    digest = hashlib.sha256(
        name.encode() + b"\n" + bytes([ALG_COSIGNATURE_ED25519]) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def signed_message(body: bytes, timestamp: int) -> bytes:
    """The exact bytes a witness signs for ``body`` (a checkpoint's note text) at ``timestamp``."""
    _check_timestamp(timestamp)
    if not body.endswith(b"\n"):
        raise MalformedCheckpointNoteError("the cosigned body must end with a newline")
    return HEADER + b"time " + str(timestamp).encode() + b"\n" + body


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature timestamp {timestamp} is not in 0..2^63-1")


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's Ed25519 cosigning public key under the witness's name."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        note.Verifier(self.name, self.public_key)  # same name and key rules as signed notes

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key)

    def verify(self, body: bytes, timestamp: int, signature: bytes) -> bool:
        """True when ``signature`` is this witness's signature of ``body`` at ``timestamp``."""
        if len(signature) != 64 or not 0 <= timestamp <= MAX_TIMESTAMP:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                signature, signed_message(body, timestamp)
            )
        except (InvalidSignature, CosignatureError):
            return False
        return True


@dataclass(frozen=True)
class CosignatureSigner:
    """A witness's Ed25519 cosigning key (its 32-byte seed) under its name; seed kept out of repr."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise KeyFormatError(f"an Ed25519 seed is 32 bytes, not {len(self.seed)}")
        note.Verifier(self.name, self.public_key)

    @property
    def public_key(self) -> bytes:
        return note.ed25519_public_key(self.seed)

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key)

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)

    def signature(self, body: bytes, timestamp: int) -> Signature:
        """The cosignature of ``body`` at ``timestamp`` as a note signature (payload after the id)."""
        raw = Ed25519PrivateKey.from_private_bytes(self.seed).sign(signed_message(body, timestamp))
        return Signature(self.name, self.key_id, timestamp.to_bytes(8, "big") + raw)


def generate_cosigner(name: str) -> CosignatureSigner:
    """A fresh witness key under ``name`` from the operating system's randomness."""
    return CosignatureSigner(name, Ed25519PrivateKey.generate().private_bytes_raw())


def format_verifier(verifier: CosignatureVerifier) -> str:
    """``<name>+<hex key id>+<base64(0x04 || public key)>``."""
    key = base64.b64encode(bytes([ALG_COSIGNATURE_ED25519]) + verifier.public_key).decode()
    return f"{verifier.name}+{verifier.key_id:08x}+{key}"


def parse_verifier(text: str) -> CosignatureVerifier:
    """A witness's verifier from its key string; type 0x04 only, and the id must match."""
    parts = text.split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3:
        raise KeyFormatError("cosigner key: expected <name>+<hex id>+<base64 key>")
    name, hex_id, key64 = parts
    if len(hex_id) != 8 or any(ch not in "0123456789abcdefABCDEF" for ch in hex_id):
        raise KeyFormatError(f"cosigner key: key id {hex_id!r} is not 8 hex digits")
    try:
        key = base64.b64decode(key64, validate=True)
    except ValueError as exc:
        raise KeyFormatError(f"cosigner key: key is not valid base64: {exc}") from exc
    if base64.b64encode(key).decode() != key64:
        raise KeyFormatError("cosigner key: key is not canonical base64")
    if not key or key[0] != ALG_COSIGNATURE_ED25519:
        kind = f"0x{key[0]:02x}" if key else "missing"
        raise note.UnsupportedAlgorithmError(
            f"cosigner key: signature type {kind} is not an Ed25519 cosignature (0x04)"
        )
    if len(key) != 33:
        raise KeyFormatError(f"cosigner key: an Ed25519 key is 32 bytes, not {len(key) - 1}")
    try:
        verifier = CosignatureVerifier(name, key[1:])
    except NoteError as exc:
        raise KeyFormatError(f"cosigner key: {exc}") from exc
    if verifier.key_id != int(hex_id, 16):
        raise note.KeyIdMismatchError(
            f"cosigner key: id {hex_id} does not match {verifier.key_id:08x} "
            f"derived from the name and key"
        )
    return verifier


def split_note(signed: bytes) -> tuple[bytes, tuple[Signature, ...]]:
    """A signed note's text and its signature lines, parsed but not verified.

    The same layout rules as ``note.open``: UTF-8, a blank line before one to
    ``MAX_SIGNATURES`` lines ``— <name> <base64(key id || signature)>``, each ending in LF.
    """
    try:
        decoded = signed.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError(f"note is not valid UTF-8: {exc}") from exc
    if any(ord(ch) < 0x20 and ch != "\n" for ch in decoded):
        raise MalformedNoteError("note has a control character other than newline")
    split = signed.rfind(b"\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, block = signed[: split + 1], signed[split + 2 :]
    if not block or not block.endswith(b"\n"):
        raise MalformedNoteError("note's signature lines are missing or do not end in a newline")
    lines = block[:-1].split(b"\n")
    if len(lines) > MAX_SIGNATURES:
        raise TooManySignaturesError(
            f"note has {len(lines)} signature lines, over the limit of {MAX_SIGNATURES}"
        )
    return text, tuple(_parse_line(line) for line in lines)


def _parse_line(line: bytes) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError(f"signature line {line[:40]!r} does not start with '— '")
    name, space, b64 = line[len(SIGNATURE_PREFIX) :].decode("utf-8").partition(" ")
    if not space or not name or " " in b64:
        raise MalformedNoteError(f"signature line {line[:40]!r} is not '— <name> <base64>'")
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError as exc:
        raise MalformedNoteError(f"signature of {name!r} is not valid base64: {exc}") from exc
    if base64.b64encode(raw).decode() != b64 or len(raw) < 5:
        raise MalformedNoteError(f"signature of {name!r} is not canonical base64 of 5+ bytes")
    return Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _checkpoint_text(signed: bytes) -> tuple[bytes, tuple[Signature, ...]]:
    try:
        text, signatures = split_note(signed)
        parse_checkpoint(text)
    except (NoteError, CheckpointError) as exc:
        raise MalformedCheckpointNoteError(f"not a signed checkpoint: {exc}") from exc
    return text, signatures


def cosignature_line(body: bytes, signer: CosignatureSigner, now: int) -> bytes:
    """One cosignature line for the checkpoint text ``body`` (what add-checkpoint returns)."""
    return signer.signature(body, now).line()


def cosign(checkpoint_note: bytes, witness_signer: CosignatureSigner, now: int) -> bytes:
    """The signed checkpoint with ``witness_signer``'s cosignature at ``now`` appended.

    Does not verify the log's signature (the witness's add-checkpoint rules do); refuses a note
    that is not a checkpoint, and a second cosignature by the same key.
    """
    text, signatures = _checkpoint_text(checkpoint_note)
    if any(s.name == witness_signer.name and s.key_id == witness_signer.key_id for s in signatures):
        raise DuplicateSignerError(
            f"witness {witness_signer.name}+{witness_signer.key_id:08x} already cosigned this"
        )
    if len(signatures) + 1 > MAX_SIGNATURES:
        raise TooManySignaturesError(f"a cosignature would exceed {MAX_SIGNATURES} signatures")
    return checkpoint_note + cosignature_line(text, witness_signer, now)


def verify_cosignatures(
    checkpoint_note: bytes,
    witness_verifiers: Iterable[CosignatureVerifier],
    *,
    not_after: int | None = None,
) -> dict[str, int]:
    """The known witnesses whose cosignature on the checkpoint verifies: {name: timestamp}.

    Lines from unknown keys (name and key id not both known) are ignored, the log's own among
    them. A known witness's line that does not verify rejects the whole note, as signed-note
    does, and so does a timestamp after ``not_after`` when given (a cosignature from the
    future). A witness that signed twice counts once, with its latest verified time.
    """
    known: dict[tuple[str, int], CosignatureVerifier] = {}
    for verifier in witness_verifiers:
        other = known.setdefault((verifier.name, verifier.key_id), verifier)
        if other.public_key != verifier.public_key:
            raise note.AmbiguousKeyError(
                f"two different witness keys are named {verifier.name}+{verifier.key_id:08x}"
            )
    text, signatures = _checkpoint_text(checkpoint_note)
    verified: dict[str, int] = {}
    for signature in signatures:
        witness = known.get((signature.name, signature.key_id))
        if witness is None:
            continue
        who = f"{signature.name}+{signature.key_id:08x}"
        if len(signature.signature) != TIMESTAMPED_SIGNATURE_SIZE:
            raise InvalidCosignatureError(
                f"cosignature by {who} is {len(signature.signature)} bytes after the key id, "
                f"not {TIMESTAMPED_SIGNATURE_SIZE}"
            )
        timestamp = int.from_bytes(signature.signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            raise InvalidCosignatureError(f"cosignature by {who} has a timestamp over 2^63-1")
        if not_after is not None and timestamp > not_after:
            raise InvalidCosignatureError(
                f"cosignature by {who} is dated {timestamp}, after {not_after}"
            )
        if not witness.verify(text, timestamp, signature.signature[8:]):
            raise InvalidCosignatureError(f"cosignature by {who} at {timestamp} does not verify")
        verified[witness.name] = max(timestamp, verified.get(witness.name, timestamp))
    return verified
