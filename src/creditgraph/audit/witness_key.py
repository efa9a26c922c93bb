"""A witness's private cosigning key as a string, shaped like a signed-note signer key.

``PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || 32-byte seed)>``: the same layout as
``note.format_signer`` but with the cosignature type byte 0x04 and its key id, so a cosigning key
can never be mistaken for (or loaded as) a log's signing key, nor the other way round.

Pure: strings in, keys out; reading the key file is the caller's.
"""

from __future__ import annotations

import base64
import binascii
import re

from creditgraph.audit.cosignature import ALG_COSIGNATURE_ED25519, CosignatureSigner
from creditgraph.audit.note import KeyFormatError, KeyIdMismatchError, NoteError

_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")


def format_cosigner(signer: CosignatureSigner) -> str:
    """``PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>``: keep it secret."""
    key = base64.b64encode(bytes([ALG_COSIGNATURE_ED25519]) + signer.seed).decode()
    return f"PRIVATE+KEY+{signer.name}+{signer.key_id:08x}+{key}"


def parse_cosigner(text: str) -> CosignatureSigner:
    """A cosigner from its private key string; type 0x04 only, and the id must match the key's."""
    parts = text.split("+", 4)  # the base64 key may itself contain '+'
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise KeyFormatError("cosigner key: expected PRIVATE+KEY+<name>+<hex id>+<base64 key>")
    name, hex_id, key64 = parts[2:]
    if not _HEX_ID.fullmatch(hex_id):
        raise KeyFormatError(f"cosigner key: key id {hex_id!r} is not 8 hex digits")
    try:
        key = base64.b64decode(key64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"cosigner key: key is not valid base64: {exc}") from None
    if base64.b64encode(key).decode() != key64:
        raise KeyFormatError("cosigner key: key is not canonical base64")
    if not key or key[0] != ALG_COSIGNATURE_ED25519:
        kind = f"0x{key[0]:02x}" if key else "missing"
        raise KeyFormatError(
            f"cosigner key: signature type {kind} is not an Ed25519 cosigning key (0x04)"
        )
    if len(key) != 33:
        raise KeyFormatError(f"cosigner key: an Ed25519 seed is 32 bytes, not {len(key) - 1}")
    try:
        signer = CosignatureSigner(name, key[1:])
    except NoteError as exc:
        raise KeyFormatError(f"cosigner key: {exc}") from None
    if signer.key_id != int(hex_id, 16):
        raise KeyIdMismatchError(
            f"cosigner key: id {hex_id} does not match {signer.key_id:08x} "
            f"derived from the name and key"
        )
    return signer
