"""Keyed pseudonyms for external identifiers, applied at the door.

HMAC-SHA256 with a secret key: the same id always maps to the same pseudonym (joins still work),
nobody without the key can recompute or reverse it, and each namespace (person, device, phone)
has its own domain so a phone number and a person id never collide.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from creditgraph.contracts.schema import Namespace
from creditgraph.store.files import private_dir

KEY_BYTES = 32
PSEUDONYM_HEX = 32  # 128 bits: collision-free for any realistic population


class KeyFileError(RuntimeError):
    pass


def load_or_create_key(path: Path, new_key: bytes | None = None) -> bytes:
    """Read the pseudonym key, creating it (0600, in a 0700 folder) on first use.

    A new key is random unless ``new_key`` is given (the demo's, derived from its seed).
    """
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise KeyFileError(f"{path}: key file must not be readable by others (mode {mode:o})")
        key = bytes.fromhex(path.read_text().strip())
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"{path}: expected a {KEY_BYTES}-byte hex key")
        return key
    private_dir(path.parent)
    path.parent.chmod(0o700)
    if new_key is not None and len(new_key) != KEY_BYTES:
        raise KeyFileError(f"a new key must have {KEY_BYTES} bytes, not {len(new_key)}")
    key = secrets.token_bytes(KEY_BYTES) if new_key is None else new_key
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


class Pseudonymiser:
    """Maps external ids to pseudonyms, caching each distinct id once per process."""

    def __init__(self, key: bytes) -> None:
        self._keys = {
            ns: hmac.new(key, f"creditgraph/{ns.value}".encode(), hashlib.sha256).digest()
            for ns in Namespace
        }
        self._cache: dict[Namespace, dict[str, str]] = {ns: {} for ns in Namespace}

    def one(self, namespace: Namespace, external_id: str) -> str:
        cache = self._cache[namespace]
        hit = cache.get(external_id)
        if hit is None:
            digest = hmac.new(self._keys[namespace], external_id.encode(), hashlib.sha256)
            hit = digest.hexdigest()[:PSEUDONYM_HEX]
            if len(cache) < 5_000_000:
                cache[external_id] = hit
        return hit

    def column(self, namespace: Namespace, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Pseudonymise an Arrow string column, hashing each distinct value once."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        uniques = pc.unique(values)
        mapped = pa.array(
            [None if v is None else self.one(namespace, v) for v in uniques.to_pylist()],
            type=pa.string(),
        )
        positions = pc.index_in(values, value_set=uniques)
        return mapped.take(positions)
