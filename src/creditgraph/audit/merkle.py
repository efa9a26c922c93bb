"""RFC 9162 Merkle tree hashing, inclusion and consistency proofs (the RFC 6962 hashing, SHA-256).

Hand-written on purpose: no permissively licensed Python library both conforms to RFC 9162 and
stays small enough to audit (issue #15), and a partner must be able to read every line that
decides whether a proof holds. Only ``hashlib``; bytes in, bytes out.

- ``leaf_hash``, ``node_hash``, ``root`` (of raw entries), ``root_of_hashes`` (of leaf hashes);
- proofs are built over a ``SubtreeHashes`` source that answers the hash of a *complete*,
  power-of-two aligned subtree, as stored tiles will; ``MemorySubtrees`` is the in-memory one,
  and ``inclusion_proof`` / ``consistency_proof`` take a plain list of leaf hashes;
- ``verify_inclusion`` and ``verify_consistency`` follow RFC 9162 s2.1.3.2 and s2.1.4.2 step by
  step and raise ``ProofError`` naming the check that failed; ``inclusion_holds`` and
  ``consistency_holds`` answer ``bool``.

Strictness matches the transparency-dev/merkle verifier (which Trillian and Certificate
Transparency use): every hash is 32 bytes; a consistency proof from size 0 is refused as
meaningless, even to size 0; equal sizes need an empty proof and equal roots. A proof of the
wrong length is refused up front with its expected length named; the RFC steps alone would
refuse it too, only with a vaguer message.

A proof binds the tree size only through its shape (the path of leaf 0 in 3 leaves also checks
as leaf 0 in 4 against the 3-leaf root), so always verify against the root that a signed
checkpoint gives for that very size, never a root taken from elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


class MerkleError(Exception):
    """Base of this module's errors."""


class ProofError(MerkleError):
    """A proof, root or hash did not verify; the message says which check failed."""


class TreeError(MerkleError, ValueError):
    """A tree, subtree or proof was asked for with arguments it cannot have: an index or size
    outside the tree, or a leaf hash of the wrong size."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the leaf prefix keeps a leaf from ever passing for a node."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_complete(start: int, end: int) -> bool:
    width = end - start
    return width > 0 and width & (width - 1) == 0 and start % width == 0


class SubtreeHashes(Protocol):
    """A source of hashes of complete subtrees, so proofs need no whole tree in memory.

    ``hash(start, end)`` is MTH of leaves [start, end) where ``end - start`` is a power of two and
    ``start`` a multiple of it (a node of the full binary tree, as a tile row holds it).
    """

    def hash(self, start: int, end: int) -> bytes:
        """The hash of the complete subtree over leaves [start, end)."""
        ...


class MemorySubtrees:
    """Every complete subtree's hash of a list of leaf hashes, kept level by level in memory.

    Appending a leaf costs O(log n) hashes; ``hash`` is a lookup.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for item in leaf_hashes:
            self.append(item)

    @property
    def size(self) -> int:
        """How many leaves the tree holds."""
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (not raw data) and every complete subtree it closes."""
        _require_hash(leaf, "leaf hash", TreeError)
        self._levels[0].append(leaf)
        level = 0
        while len(self._levels[level]) % 2 == 0:
            row = self._levels[level]
            if level + 1 == len(self._levels):
                self._levels.append([])
            self._levels[level + 1].append(node_hash(row[-2], row[-1]))
            level += 1

    def hash(self, start: int, end: int) -> bytes:
        if not _is_complete(start, end) or end > self.size:
            raise TreeError(
                f"[{start}, {end}) is not a complete subtree of a tree of {self.size} leaves"
            )
        level = (end - start).bit_length() - 1
        return self._levels[level][start >> level]


def subtree_root(source: SubtreeHashes, start: int, end: int) -> bytes:
    """MTH of leaves [start, end) for any subtree RFC 9162 recursion reaches.

    Such a range starts at a multiple of the power of two at or above its width; it is split
    into complete subtrees, largest first, folded from the right as the RFC's recursion does.
    An empty range is the empty tree's hash.
    """
    if start < 0 or end < start:
        raise TreeError(f"[{start}, {end}) is not a range of leaves")
    if start == end:
        return EMPTY_ROOT
    width = end - start
    if start % (1 << (width - 1).bit_length()) != 0:
        raise TreeError(f"[{start}, {end}) is not a subtree of any Merkle tree from leaf 0")
    pieces: list[bytes] = []
    at = start
    while at < end:
        step = 1 << ((end - at).bit_length() - 1)
        pieces.append(source.hash(at, at + step))
        at += step
    result = pieces[-1]
    for piece in reversed(pieces[:-1]):
        result = node_hash(piece, result)
    return result


def tree_root(source: SubtreeHashes, size: int) -> bytes:
    """The root (MTH) of the first ``size`` leaves of ``source``."""
    return subtree_root(source, 0, size)


def root_of_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root of a tree given its leaf hashes; SHA-256 of the empty string when there are none."""
    return tree_root(MemorySubtrees(leaf_hashes), len(leaf_hashes))


def root(leaves: Sequence[bytes]) -> bytes:
    """The root of a tree of raw entries (each is hashed as a leaf first)."""
    return root_of_hashes([leaf_hash(entry) for entry in leaves])


def inclusion_proof_from(source: SubtreeHashes, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 s2.1.3.1: sibling hashes from the leaf upward."""
    if not 0 <= index < size:
        raise TreeError(f"leaf index {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(subtree_root(source, start + k, end))
            end = start + k
        else:
            path.append(subtree_root(source, start, start + k))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_proof_from(source: SubtreeHashes, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 s2.1.4.1, bottom up; empty for equal sizes."""
    if old_size <= 0 or old_size > new_size:
        raise TreeError(
            f"no consistency proof from size {old_size} to size {new_size}: need 0 < old <= new"
        )
    proof: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(subtree_root(source, start + k, end))
            end = start + k
        else:
            proof.append(subtree_root(source, start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        proof.append(subtree_root(source, start, end))
    proof.reverse()
    return proof


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of the first ``size`` leaf hashes."""
    _require_prefix(leaf_hashes, size)
    return inclusion_proof_from(MemorySubtrees(leaf_hashes[:size]), index, size)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof between the trees of the first ``old_size`` and ``new_size`` leaves."""
    _require_prefix(leaf_hashes, new_size)
    return consistency_proof_from(MemorySubtrees(leaf_hashes[:new_size]), old_size, new_size)


def inclusion_proof_size(index: int, size: int) -> int:
    """How many hashes an inclusion proof of leaf ``index`` in a tree of ``size`` holds."""
    if not 0 <= index < size:
        raise TreeError(f"leaf index {index} is not in a tree of {size} leaves")
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_size(old_size: int, new_size: int) -> int:
    """How many hashes a consistency proof from ``old_size`` to ``new_size`` holds."""
    if old_size <= 0 or old_size > new_size:
        raise TreeError(
            f"no consistency proof from size {old_size} to size {new_size}: need 0 < old <= new"
        )
    if old_size == new_size:
        return 0
    shift = (old_size & -old_size).bit_length() - 1
    seed = 0 if old_size == 1 << shift else 1
    return seed + inclusion_proof_size(old_size - 1, new_size) - shift


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) is entry ``index`` of the tree of ``size`` with that root.

    RFC 9162 s2.1.3.2, step by step; raises ``ProofError`` saying which check failed.
    """
    _require_hash(leaf, "leaf hash")
    _require_hash(root_hash, "root hash")
    for position, item in enumerate(proof):
        _require_hash(item, f"inclusion proof hash {position}")
    # 1. The index must be inside the tree.
    if index < 0 or index >= size:
        raise ProofError(f"leaf index {index} is not in a tree of {size} leaves")
    # Not an RFC step, the same verdict: a path of the wrong length fails in step 4a or 5.
    expected = inclusion_proof_size(index, size)
    if len(proof) != expected:
        raise ProofError(
            f"inclusion proof has {len(proof)} hashes, leaf {index} of {size} needs {expected}"
        )
    # 2-3.
    fn, sn, r = index, size - 1, leaf
    # 4.
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    # 5.
    if sn != 0:
        raise ProofError("inclusion proof ends below the root")
    if r != root_hash:
        raise ProofError(
            f"inclusion proof of leaf {index} in a tree of {size} leads to root {r.hex()}, "
            f"not the given {root_hash.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size``.

    RFC 9162 s2.1.4.2, step by step; raises ``ProofError`` saying which check failed.
    """
    _require_hash(old_root, "old root hash")
    _require_hash(new_root, "new root hash")
    for position, item in enumerate(proof):
        _require_hash(item, f"consistency proof hash {position}")
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"a tree of {new_size} leaves cannot extend one of {old_size}")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if old_size == new_size:
        if proof:
            raise ProofError(f"trees of equal size {old_size} need an empty proof")
        if old_root != new_root:
            raise ProofError(f"two roots of the same size {old_size} differ")
        return
    # 1.
    if not proof:
        raise ProofError("consistency proof is empty")
    # Not an RFC step, the same verdict: a path of the wrong length fails in step 6a or 7.
    expected = consistency_proof_size(old_size, new_size)
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes, {old_size} to {new_size} needs {expected}"
        )
    # 2.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3-4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the new root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # 7.
    if sn != 0:
        raise ProofError("consistency proof ends below the new root")
    if fr != old_root:
        raise ProofError(
            f"consistency proof leads to old root {fr.hex()}, not the given {old_root.hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"consistency proof leads to new root {sr.hex()}, not the given {new_root.hex()}"
        )


def inclusion_holds(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """``verify_inclusion`` as a yes or no."""
    try:
        verify_inclusion(leaf, index, size, proof, root_hash)
    except ProofError:
        return False
    return True


def consistency_holds(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """``verify_consistency`` as a yes or no."""
    try:
        verify_consistency(old_size, new_size, old_root, new_root, proof)
    except ProofError:
        return False
    return True


def _require_hash(value: bytes, what: str, error: type[MerkleError] = ProofError) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise error(f"{what} must be {HASH_SIZE} bytes, got {got}")


def _require_prefix(leaf_hashes: Sequence[bytes], size: int) -> None:
    if not 0 <= size <= len(leaf_hashes):
        raise TreeError(f"a tree of {size} leaves from a list of {len(leaf_hashes)}")
