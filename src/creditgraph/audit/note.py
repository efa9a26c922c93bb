"""C2SP signed notes with Ed25519 (https://c2sp.org/signed-note, Go's golang.org/x/mod/sumdb/note).

A signed note is a UTF-8 text ending in a newline, a blank line, then one or more lines
``— <key name> <base64(key id || signature)>``. Partners verify our checkpoints with the same
format the Go checksum database, Sigstore and the witness network use, so the byte layout here
must match theirs exactly; the reference test signs Go's own example and gets Go's line.

Keys travel as strings: a verifier key ``<name>+<hex key id>+<base64(0x01 || public key)>`` and a
signer key ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``. The key id is the first four
bytes of SHA-256(name || 0x0A || 0x01 || public key), read big-endian.

Everything is pure: keys come in as strings or objects, notes as bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
"""The signature type byte of Ed25519 in key ids and key strings."""

MAX_SIGNATURES = 100
"""Signature lines read from one note at most (the spec asks for at least 16; Go reads 100)."""

SIGNATURE_PREFIX = "— ".encode()
"""Every signature line starts with an em dash (U+2014) and a space."""

_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")


class NoteError(ValueError):
    """A signed note or a note key could not be used; the message says what failed."""


class MalformedNoteError(NoteError):
    """The note's bytes break the signed-note format (text, separator or signature lines)."""


class TooManySignaturesError(MalformedNoteError):
    """More than ``MAX_SIGNATURES`` signature lines: refused before any is verified."""


class InvalidNameError(NoteError):
    """A key name is empty or holds a space, a plus or a control character."""


class KeyFormatError(NoteError):
    """A verifier or signer key string is malformed."""


class KeyIdMismatchError(KeyFormatError):
    """A key string's id is not the one its name and key derive."""


class UnsupportedAlgorithmError(KeyFormatError):
    """A key of a signature type other than Ed25519 (0x01)."""


class AmbiguousKeyError(NoteError):
    """Two different keys share a name and key id, so a signature could not be attributed."""


class DuplicateSignerError(NoteError):
    """The same key would sign one note twice."""


class InvalidSignatureError(NoteError):
    """A signature from a known key does not verify: the note was changed or forged."""


class UnverifiedNoteError(NoteError):
    """No signature on the note comes from a known key; ``unverified`` lists what was there."""

    def __init__(self, message: str, unverified: tuple[Signature, ...]) -> None:
        super().__init__(message)
        self.unverified = unverified


def _check_name(name: str) -> None:
    if not name:
        raise InvalidNameError("key name is empty")
    if "+" in name:
        raise InvalidNameError(f"key name {name!r} contains '+'")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in name):
        raise InvalidNameError(f"key name {name!r} contains a space or control character")


def _b64decode(value: str | bytes, what: str, error: type[NoteError]) -> bytes:
    """Standard base64 with padding, and only its canonical spelling (one spelling per value)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise error(f"{what} is not valid base64: {exc}") from exc
    canonical = base64.b64encode(raw)
    given = value.encode("ascii") if isinstance(value, str) else value
    if canonical != given:
        raise error(f"{what} is not canonical base64")
    return raw


def key_id(name: str, public_key: bytes) -> int:
    """The Ed25519 key id: SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian."""
    _check_name(name)
    if len(public_key) != 32:
        raise KeyFormatError(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Signature:
    """One signature line: the key's name and id and the raw signature bytes (without the id)."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> bytes:
        """The line as it stands in a note, newline included."""
        payload = self.key_id.to_bytes(4, "big") + self.signature
        return SIGNATURE_PREFIX + f"{self.name} ".encode() + base64.b64encode(payload) + b"\n"


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 public key under a name: checks signatures by that name and key id."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise KeyFormatError(f"an Ed25519 public key is 32 bytes, not {len(self.public_key)}")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def ed25519_public_key(seed: bytes) -> bytes:
    """The raw 32-byte Ed25519 public key of a 32-byte seed."""
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key (its 32-byte seed) under a name. The seed stays out of ``repr``."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.seed) != 32:
            raise KeyFormatError(f"an Ed25519 seed is 32 bytes, not {len(self.seed)}")

    @property
    def public_key(self) -> bytes:
        return ed25519_public_key(self.seed)

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key)

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def generate_signer(name: str) -> Signer:
    """A fresh Ed25519 signer under ``name`` from the operating system's randomness."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    return Signer(name, seed)


def format_verifier(verifier: Verifier) -> str:
    """``<name>+<hex key id>+<base64(0x01 || public key)>``."""
    key = base64.b64encode(bytes([ALG_ED25519]) + verifier.public_key).decode()
    return f"{verifier.name}+{verifier.key_id:08x}+{key}"


def format_signer(signer: Signer) -> str:
    """``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``: keep it secret."""
    key = base64.b64encode(bytes([ALG_ED25519]) + signer.seed).decode()
    return f"PRIVATE+KEY+{signer.name}+{signer.key_id:08x}+{key}"


def _split_key(parts: list[str], what: str) -> tuple[str, int, bytes]:
    """Name, key id and the 32 key bytes after the type byte, from ``name``, ``id``, ``key``."""
    name, hex_id, key64 = parts
    try:
        _check_name(name)
    except InvalidNameError as exc:
        raise KeyFormatError(f"{what}: {exc}") from exc
    if not _HEX_ID.fullmatch(hex_id):
        raise KeyFormatError(f"{what}: key id {hex_id!r} is not 8 hex digits")
    key = _b64decode(key64, f"{what}: key", KeyFormatError)
    if not key:
        raise KeyFormatError(f"{what}: key is empty")
    if key[0] != ALG_ED25519:
        raise UnsupportedAlgorithmError(
            f"{what}: signature type 0x{key[0]:02x} is not Ed25519 (0x01)"
        )
    if len(key) != 33:
        raise KeyFormatError(f"{what}: an Ed25519 key is 32 bytes, not {len(key) - 1}")
    return name, int(hex_id, 16), key[1:]


def parse_verifier(text: str) -> Verifier:
    """A verifier from its key string; the key id must be the one its name and key derive."""
    parts = text.split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3:
        raise KeyFormatError("verifier key: expected <name>+<hex id>+<base64 key>")
    name, wanted, public_key = _split_key(parts, "verifier key")
    verifier = Verifier(name, public_key)
    if verifier.key_id != wanted:
        raise KeyIdMismatchError(
            f"verifier key: id {wanted:08x} does not match {verifier.key_id:08x} "
            f"derived from the name and key"
        )
    return verifier


def parse_signer(text: str) -> Signer:
    """A signer from its private key string; the id must match the derived public key's id."""
    parts = text.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise KeyFormatError("signer key: expected PRIVATE+KEY+<name>+<hex id>+<base64 key>")
    name, wanted, seed = _split_key(parts[2:], "signer key")
    signer = Signer(name, seed)
    if signer.key_id != wanted:
        raise KeyIdMismatchError(
            f"signer key: id {wanted:08x} does not match {signer.key_id:08x} "
            f"derived from the name and key"
        )
    return signer


def _check_text(text: bytes, error: type[NoteError], what: str) -> None:
    """UTF-8 and no ASCII control characters but newline, as the spec asks of a whole note."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not valid UTF-8: {exc}") from exc
    for position, ch in enumerate(decoded):
        if ord(ch) < 0x20 and ch != "\n":
            raise error(f"{what} has control character 0x{ord(ch):02x} at character {position}")


def sign(text: bytes, signers: Sequence[Signer], *, existing: Sequence[Signature] = ()) -> bytes:
    """The signed note of ``text``: the text, a blank line, ``existing`` lines, then each signer's.

    ``existing`` carries signatures already on the note forward (a cosigner adds its own);
    they are written as given and not checked here.
    """
    if not text.endswith(b"\n"):
        raise MalformedNoteError("note text must end with a newline")
    _check_text(text, MalformedNoteError, "note text")
    if not signers and not existing:
        raise NoteError("a signed note needs at least one signer")
    seen: set[tuple[str, int]] = set()
    lines: list[bytes] = []
    for signature in existing:
        _check_name(signature.name)
        seen.add((signature.name, signature.key_id))
        lines.append(signature.line())
    for signer in signers:
        ident = (signer.name, signer.key_id)
        if ident in seen:
            raise DuplicateSignerError(
                f"key {signer.name}+{signer.key_id:08x} already signs this note"
            )
        seen.add(ident)
        lines.append(Signature(signer.name, signer.key_id, signer.sign(text)).line())
    if len(lines) > MAX_SIGNATURES:
        raise TooManySignaturesError(
            f"{len(lines)} signatures exceed the limit of {MAX_SIGNATURES} a reader accepts"
        )
    return text + b"\n" + b"".join(lines)


@dataclass(frozen=True)
class OpenedNote:
    """A note whose text at least one known key signed.

    ``signatures`` are the verified ones; ``unverified`` are from keys the reader does not know
    (ignored, as the spec requires, but kept so a cosigned note can be passed on whole).
    """

    text: bytes
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...]


def _parse_signature_line(line: bytes) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError(f"signature line {line[:40]!r} does not start with '— '")
    rest = line[len(SIGNATURE_PREFIX) :].decode("utf-8")
    name, space, b64 = rest.partition(" ")
    if not space or not b64:
        raise MalformedNoteError(f"signature line {rest[:40]!r} has no signature after the name")
    try:
        _check_name(name)
    except InvalidNameError as exc:
        raise MalformedNoteError(f"signature line: {exc}") from exc
    raw = _b64decode(b64, f"signature of {name!r}", MalformedNoteError)
    if len(raw) < 5:
        raise MalformedNoteError(f"signature of {name!r} is {len(raw)} bytes, under 4 + 1")
    return Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _index(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    known: dict[tuple[str, int], Verifier] = {}
    for verifier in verifiers:
        ident = (verifier.name, verifier.key_id)
        other = known.setdefault(ident, verifier)
        if other.public_key != verifier.public_key:
            raise AmbiguousKeyError(
                f"two different keys are named {verifier.name}+{verifier.key_id:08x}"
            )
    return known


def open(note: bytes, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Parse ``note`` and verify every signature from a known key.

    Signatures from unknown keys (name and id not both known) are ignored and returned as
    unverified. A known key's failing signature rejects the whole note, and so does a note no
    known key signed. Repeated signatures by one key count once.
    """
    known = _index(verifiers)
    _check_text(note, MalformedNoteError, "note")
    split = note.rfind(b"\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise MalformedNoteError("note has no signature lines after the blank line")
    if not block.endswith(b"\n"):
        raise MalformedNoteError("note's last signature line does not end with a newline")
    lines = block[:-1].split(b"\n")
    if len(lines) > MAX_SIGNATURES:
        raise TooManySignaturesError(
            f"note has {len(lines)} signature lines, over the limit of {MAX_SIGNATURES}"
        )
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    for line in lines:
        signature = _parse_signature_line(line)
        ident = (signature.name, signature.key_id)
        verifier = known.get(ident)
        if verifier is None:
            if signature not in unverified:
                unverified.append(signature)
            continue
        if ident in seen:
            continue
        seen.add(ident)
        if not verifier.verify(text, signature.signature):
            raise InvalidSignatureError(
                f"signature by {signature.name}+{signature.key_id:08x} does not verify"
            )
        verified.append(signature)
    if not verified:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in unverified)
        raise UnverifiedNoteError(
            f"no signature from a known key (the note is signed by {names})", tuple(unverified)
        )
    return OpenedNote(text, tuple(verified), tuple(unverified))
