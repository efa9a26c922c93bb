"""RFC 9162 Merkle hashing and proofs: the published vectors byte for byte, the reference
verifier's corruption probes, the edge cases, and properties over random trees."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditgraph.audit.merkle import (
    EMPTY_ROOT,
    MemorySubtrees,
    ProofError,
    TreeError,
    consistency_holds,
    consistency_proof,
    consistency_proof_from,
    consistency_proof_size,
    inclusion_holds,
    inclusion_proof,
    inclusion_proof_from,
    inclusion_proof_size,
    leaf_hash,
    node_hash,
    root,
    root_of_hashes,
    subtree_root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.conftest import shared_path

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _vectors() -> dict[str, Any]:
    with shared_path("vectors", "rfc6962_merkle.json").open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _hexes(items: list[str]) -> list[bytes]:
    return [bytes.fromhex(item) for item in items]


def _flip(value: bytes, at: int, mask: int = 0x08) -> bytes:
    return value[:at] + bytes([value[at] ^ mask]) + value[at + 1 :]


def _leaves() -> list[bytes]:
    return _hexes(_vectors()["leaf_inputs_hex"])


# --- Published vectors (transparency-dev/merkle, as used by Trillian and CT) ---------------------


def test_hasher_vectors() -> None:
    empty, empty_leaf, ascii_leaf, ascii_node = _vectors()["hasher_vectors"]
    assert EMPTY_ROOT.hex() == empty["output"]
    assert root([]).hex() == empty["output"]
    assert root_of_hashes([]).hex() == empty["output"]
    assert leaf_hash(bytes.fromhex(empty_leaf["input_hex"])).hex() == empty_leaf["output"]
    assert leaf_hash(bytes.fromhex(ascii_leaf["input_hex"])).hex() == ascii_leaf["output"]
    left, right = bytes.fromhex(ascii_node["left_hex"]), bytes.fromhex(ascii_node["right_hex"])
    assert node_hash(left, right).hex() == ascii_node["output"]


def test_every_complete_subtree_of_the_vector_tree() -> None:
    source = MemorySubtrees([leaf_hash(leaf) for leaf in _leaves()])
    for level, row in enumerate(_vectors()["node_hashes_by_level"]):
        width = 1 << level
        got = [source.hash(i * width, (i + 1) * width).hex() for i in range(len(row))]
        assert got == row


def test_every_root_of_the_vector_tree() -> None:
    leaves = _leaves()
    hashes = [leaf_hash(leaf) for leaf in leaves]
    for size, expected in _vectors()["root_hashes_by_size"].items():
        n = int(size)
        assert root(leaves[:n]).hex() == expected
        assert root_of_hashes(hashes[:n]).hex() == expected
        assert tree_root(MemorySubtrees(hashes), n).hex() == expected


def test_inclusion_vectors_reproduced_and_verified() -> None:
    hashes = [leaf_hash(leaf) for leaf in _leaves()]
    cases = _vectors()["inclusion_proofs"]
    assert cases
    for case in cases:
        index, size = case["leaf_index"], case["tree_size"]
        assert hashes[index].hex() == case["leaf_hash"]
        proof = inclusion_proof(hashes, index, size)
        assert [item.hex() for item in proof] == case["audit_path"]
        verify_inclusion(
            bytes.fromhex(case["leaf_hash"]), index, size, proof, bytes.fromhex(case["root"])
        )


def test_consistency_vectors_reproduced_and_verified() -> None:
    hashes = [leaf_hash(leaf) for leaf in _leaves()]
    cases = _vectors()["consistency_proofs"]
    assert cases
    for case in cases:
        old, new = case["size1"], case["size2"]
        proof = consistency_proof(hashes, old, new)
        assert [item.hex() for item in proof] == case["proof"]
        verify_consistency(
            old, new, bytes.fromhex(case["root1"]), bytes.fromhex(case["root2"]), proof
        )


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], root_hash: bytes, leaf: bytes
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """The reference verifier's corruptions of a good inclusion proof (verify_test.go)."""
    probes = [
        ("index - 1", index - 1, size, proof, root_hash, leaf),
        ("index + 1", index + 1, size, proof, root_hash, leaf),
        ("index ^ 2", index ^ 2, size, proof, root_hash, leaf),
        ("size * 2", index, size * 2, proof, root_hash, leaf),
        ("size // 2", index, size // 2, proof, root_hash, leaf),
        ("wrong leaf", index, size, proof, root_hash, b"WrongLeaf"),
        ("flipped leaf", index, size, proof, root_hash, _flip(leaf, 31)),
        ("empty root", index, size, proof, EMPTY_ROOT, leaf),
        ("random root", index, size, proof, SOME_HASH, leaf),
        ("trailing garbage", index, size, [*proof, b""], root_hash, leaf),
        ("trailing root", index, size, [*proof, root_hash], root_hash, leaf),
        ("preceding garbage", index, size, [b"", *proof], root_hash, leaf),
        ("preceding root", index, size, [root_hash, *proof], root_hash, leaf),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = _flip(wrong[i], 0)
        probes.append((f"proof[{i}] bit 3", index, size, wrong, root_hash, leaf))
    if proof:
        probes.append(("removed component", index, size, proof[:-1], root_hash, leaf))
    if len(proof) > 1:
        probes.append(
            ("inserted component", index, size, [proof[0], SOME_HASH, *proof[1:]], root_hash, leaf)
        )
    return probes


def test_inclusion_vectors_refuse_every_reference_probe() -> None:
    for case in _vectors()["inclusion_proofs"]:
        index, size = case["leaf_index"], case["tree_size"]
        proof, root_hash = _hexes(case["audit_path"]), bytes.fromhex(case["root"])
        leaf = bytes.fromhex(case["leaf_hash"])
        for desc, i, n, path, r, h in _inclusion_probes(index, size, proof, root_hash, leaf):
            assert not inclusion_holds(h, i, n, path, r), f"{desc} verified for {index} of {size}"


def test_consistency_vectors_refuse_every_reference_probe() -> None:
    for case in _vectors()["consistency_proofs"]:
        old, new = case["size1"], case["size2"]
        root1, root2, proof = (
            bytes.fromhex(case["root1"]),
            bytes.fromhex(case["root2"]),
            _hexes(case["proof"]),
        )
        if not proof:
            continue
        probes = [
            ("size1 - 1", old - 1, new, root1, root2, proof),
            ("size1 + 1", old + 1, new, root1, root2, proof),
            ("size1 ^ 2", old ^ 2, new, root1, root2, proof),
            ("size2 * 2", old, new * 2, root1, root2, proof),
            ("size2 // 2", old, new // 2, root1, root2, proof),
            ("wrong root1", old, new, SOME_HASH, root2, proof),
            ("wrong root2", old, new, root1, SOME_HASH, proof),
            ("swapped roots", old, new, root2, root1, proof),
            ("empty proof", old, new, root1, root2, []),
            ("trailing garbage", old, new, root1, root2, [*proof, b""]),
            ("trailing root1", old, new, root1, root2, [*proof, root1]),
            ("trailing root2", old, new, root1, root2, [*proof, root2]),
            ("preceding garbage", old, new, root1, root2, [b"", *proof]),
            ("preceding root1", old, new, root1, root2, [root1, *proof]),
            ("preceding root2", old, new, root1, root2, [root2, *proof]),
            ("preceding proof[0]", old, new, root1, root2, [proof[0], *proof]),
            ("truncated proof", old, new, root1, root2, proof[:-1]),
        ]
        for i in range(len(proof)):
            wrong = list(proof)
            wrong[i] = _flip(wrong[i], 0, 0x10)
            probes.append((f"proof[{i}] bit 4", old, new, root1, root2, wrong))
        for desc, m, n, r1, r2, path in probes:
            assert not consistency_holds(m, n, r1, r2, path), f"{desc} verified for {old} to {new}"


# --- Edge cases ---------------------------------------------------------------------------------


def test_inclusion_edge_cases() -> None:
    one = leaf_hash(b"data")
    verify_inclusion(one, 0, 1, [], one)  # a one-leaf tree's root is its leaf hash
    for index, size in [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 1)]:
        with pytest.raises(ProofError, match="not in a tree"):
            verify_inclusion(one, index, size, [], one)
    with pytest.raises(ProofError, match="leaf hash must be 32 bytes"):
        verify_inclusion(b"", 0, 1, [], one)
    with pytest.raises(ProofError, match="root hash must be 32 bytes"):
        verify_inclusion(one, 0, 1, [], b"")
    hashes = [leaf_hash(bytes([i])) for i in range(5)]
    proof, top = inclusion_proof(hashes, 2, 5), root_of_hashes(hashes)
    with pytest.raises(ProofError, match="has 4 hashes, leaf 2 of 5 needs 3"):
        verify_inclusion(hashes[2], 2, 5, [*proof, SOME_HASH], top)
    with pytest.raises(ProofError, match="has 2 hashes"):
        verify_inclusion(hashes[2], 2, 5, proof[:-1], top)
    with pytest.raises(ProofError, match="leads to root"):
        verify_inclusion(hashes[3], 2, 5, proof, top)
    for index, size in [(5, 5), (0, 6), (-1, 5)]:
        with pytest.raises(TreeError):
            inclusion_proof(hashes, index, size)


def test_consistency_edge_cases() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    verify_consistency(1, 1, a, a, [])
    with pytest.raises(ProofError, match="need an empty proof"):
        verify_consistency(1, 1, a, a, [EMPTY_ROOT])
    with pytest.raises(ProofError, match="same size 1 differ"):
        verify_consistency(1, 1, a, b, [])
    # From the empty tree there is nothing to prove, even to the empty tree (as the reference does).
    for new in (0, 1, 5):
        with pytest.raises(ProofError, match="meaningless"):
            verify_consistency(0, new, EMPTY_ROOT, EMPTY_ROOT if new == 0 else a, [])
    with pytest.raises(ProofError, match="cannot extend"):
        verify_consistency(2, 1, a, b, [])
    with pytest.raises(ProofError, match="is empty"):
        verify_consistency(1, 2, a, node_hash(a, b), [])
    verify_consistency(1, 2, a, node_hash(a, b), [b])
    with pytest.raises(ProofError, match="has 2 hashes, 1 to 2 needs 1"):
        verify_consistency(1, 2, a, node_hash(a, b), [b, b])
    with pytest.raises(ProofError, match="old root hash must be 32 bytes"):
        verify_consistency(1, 2, b"short", node_hash(a, b), [b])
    with pytest.raises(ProofError, match="consistency proof hash 0 must be 32 bytes"):
        verify_consistency(1, 2, a, node_hash(a, b), [b"short"])
    assert consistency_proof([a, b], 2, 2) == []
    for old, new in [(0, 2), (3, 2), (1, 3)]:
        with pytest.raises(TreeError):
            consistency_proof([a, b], old, new)


def test_size_is_bound_by_the_root_the_checkpoint_signs() -> None:
    """RFC 9162's verifier reads the size only through the path's shape: the proof of leaf 0
    in 3 leaves also checks as leaf 0 of 4 against the *3-leaf* root. A receipt must therefore
    take the root from the checkpoint that signs that very size; against the 4-leaf root it fails."""
    hashes = [leaf_hash(bytes([i])) for i in range(4)]
    proof = inclusion_proof(hashes, 0, 3)
    assert inclusion_holds(hashes[0], 0, 4, proof, root_of_hashes(hashes[:3]))
    assert not inclusion_holds(hashes[0], 0, 4, proof, root_of_hashes(hashes))


def test_subtree_source_refuses_incomplete_or_unaligned_ranges() -> None:
    source = MemorySubtrees([leaf_hash(bytes([i])) for i in range(6)])
    for start, end in [(0, 3), (1, 3), (2, 6), (4, 8), (3, 3)]:
        with pytest.raises(TreeError):
            source.hash(start, end)
    with pytest.raises(TreeError):
        subtree_root(source, 1, 3)
    with pytest.raises(TreeError, match="leaf hash must be 32 bytes"):
        source.append(b"raw entry")


# --- Properties over random trees ---------------------------------------------------------------

trees = st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True)


def _ceil_log2(n: int) -> int:
    return (n - 1).bit_length()


def _mth(hashes: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 s2.1.1, recursively: the reference the stored levels must match."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << (len(hashes) - 1).bit_length() - 1
    return node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


@SETTINGS
@given(trees)
def test_roots_equal_the_recursive_definition(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    source = MemorySubtrees(hashes)
    for n in range(len(hashes) + 1):
        assert tree_root(source, n) == _mth(hashes[:n])
    assert root(leaves) == _mth(hashes)


@SETTINGS
@given(trees)
def test_every_inclusion_proof_verifies_and_is_short(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    source = MemorySubtrees(hashes)
    for n in range(1, len(hashes) + 1):
        top = tree_root(source, n)
        for index in range(n):
            proof = inclusion_proof_from(source, index, n)
            assert len(proof) == inclusion_proof_size(index, n) <= _ceil_log2(n)
            verify_inclusion(hashes[index], index, n, proof, top)
    n = len(hashes)
    assert inclusion_proof(hashes, n - 1, n) == inclusion_proof_from(source, n - 1, n)


@SETTINGS
@given(trees)
def test_every_consistency_proof_verifies_and_is_short(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    source = MemorySubtrees(hashes)
    roots = [tree_root(source, n) for n in range(len(hashes) + 1)]
    for n in range(1, len(hashes) + 1):
        for m in range(1, n + 1):
            proof = consistency_proof_from(source, m, n)
            # PROOF(m, n) is the path of leaf m - 1 to the root, less the levels below the
            # largest complete subtree ending at m, plus that subtree's root unless it is the whole old tree.
            assert len(proof) == consistency_proof_size(m, n) <= _ceil_log2(n) + 1
            verify_consistency(m, n, roots[m], roots[n], proof)


@SETTINGS
@given(trees, st.data())
def test_any_changed_byte_fails_inclusion(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    n = len(hashes)
    index = data.draw(st.integers(0, n - 1), label="index")
    source = MemorySubtrees(hashes)
    proof, top = inclusion_proof_from(source, index, n), tree_root(source, n)
    at = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = _flip(wrong[i], at, mask)
        assert not inclusion_holds(hashes[index], index, n, wrong, top)
    assert not inclusion_holds(hashes[index], index, n, proof, _flip(top, at, mask))
    assert not inclusion_holds(_flip(hashes[index], at, mask), index, n, proof, top)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index), label="other")
        assert not inclusion_holds(hashes[other], index, n, proof, top)
        assert not inclusion_holds(hashes[index], other, n, proof, top)


@SETTINGS
@given(trees, st.data())
def test_any_changed_byte_fails_consistency(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    n = len(hashes)
    if n < 2:
        return
    m = data.draw(st.integers(1, n - 1), label="old size")
    source = MemorySubtrees(hashes)
    old, new = tree_root(source, m), tree_root(source, n)
    proof = consistency_proof_from(source, m, n)
    at = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = _flip(wrong[i], at, mask)
        assert not consistency_holds(m, n, old, new, wrong)
    assert not consistency_holds(m, n, _flip(old, at, mask), new, proof)
    assert not consistency_holds(m, n, old, _flip(new, at, mask), proof)
    assert not consistency_holds(m, n, old, new, proof[:-1])
    assert not consistency_holds(m, n, old, new, [*proof, SOME_HASH])


@settings(max_examples=15, deadline=None)
@given(st.lists(st.binary(max_size=4), min_size=2, max_size=24, unique=True))
def test_a_proof_checks_only_at_its_own_index_and_size(leaves: list[bytes]) -> None:
    """Against the root of the size claimed, no proof passes for another leaf position or size."""
    hashes = [leaf_hash(leaf) for leaf in leaves]
    source = MemorySubtrees(hashes)
    top = len(hashes)
    roots = [tree_root(source, n) for n in range(top + 1)]
    for n in range(1, top + 1):
        for index in range(n):
            proof = inclusion_proof_from(source, index, n)
            for n2 in range(1, top + 1):
                for i2 in range(n2):
                    if (i2, n2) != (index, n):
                        assert not inclusion_holds(hashes[index], i2, n2, proof, roots[n2])
        for m in range(1, n):
            proof = consistency_proof_from(source, m, n)
            for n2 in range(1, top + 1):
                for m2 in range(1, n2 + 1):
                    if (m2, n2) != (m, n):
                        assert not consistency_holds(m2, n2, roots[m2], roots[n2], proof)
