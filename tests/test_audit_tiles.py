"""C2SP tlog tiles: paths as the spec spells them, the tiles of a tree, and the tile store's
roots and proofs equal to the in-memory tree's on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine

from creditgraph.audit import merkle, tile_store
from creditgraph.audit.tiles import (
    Bundle,
    Tile,
    TileError,
    TileHashes,
    bundle_path,
    changed_tiles,
    decode_bundle,
    decode_index,
    encode_entries,
    encode_index,
    extend_peaks,
    full_tile_root,
    parse_path,
    peak_ranges,
    tile_for_subtree,
    tile_path,
    tree_bundles,
    tree_tiles,
)
from creditgraph.store.db import write_transaction

# -- paths: the spec's own examples and its rules ------------------------------------------------


def test_the_specs_index_example() -> None:
    # tlog-tiles: "index 1234067 will be encoded as x001/x234/067"
    assert encode_index(1234067) == "x001/x234/067"
    assert decode_index("x001/x234/067") == 1234067


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 0, 256, "tile/0/000"),
        (0, 5, 256, "tile/0/005"),
        (0, 999, 256, "tile/0/999"),
        (0, 1000, 256, "tile/0/x001/000"),
        (1, 1234067, 256, "tile/1/x001/x234/067"),
        (0, 1234067, 8, "tile/0/x001/x234/067.p/8"),
        (2, 0, 15, "tile/2/000.p/15"),
        (63, 10**9, 255, "tile/63/x001/x000/x000/000.p/255"),
    ],
)
def test_tile_paths(level: int, index: int, width: int, path: str) -> None:
    assert tile_path(level, index, width) == path
    assert Tile(level, index, width).path == path
    assert parse_path(path) == Tile(level, index, width)


def test_bundle_paths() -> None:
    assert bundle_path(1234067) == "tile/entries/x001/x234/067"
    assert bundle_path(3, 64) == "tile/entries/003.p/64"
    assert parse_path("tile/entries/x001/x234/067") == Bundle(1234067)
    assert parse_path("tile/entries/003.p/64") == Bundle(3, 64)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/5",  # not three digits
        "tile/0/0005",
        "tile/0/x005",  # the last element has no x
        "tile/0/001/234",  # all but the last need an x
        "tile/0/x000/005",  # 5 is written 005
        "tile/00/005",  # level with a leading zero
        "tile/64/005",  # level above 63
        "tile/-1/005",
        "tile/0/005.p/0",  # partial widths are 1..255
        "tile/0/005.p/256",
        "tile/0/005.p/08",
        "tile/0/005.p/",
        "tile/0/",
        "tile/data/005",
        "tiles/0/005",
        "tile/entries/x5/005",
    ],
)
def test_paths_the_spec_does_not_allow_are_refused(path: str) -> None:
    with pytest.raises(TileError):
        parse_path(path)


@given(st.integers(0, 63), st.integers(0, 10**15), st.integers(1, 256), st.booleans())
def test_every_path_parses_back(level: int, index: int, width: int, entries: bool) -> None:
    path = bundle_path(index, width) if entries else tile_path(level, index, width)
    expected = Bundle(index, width) if entries else Tile(level, index, width)
    assert parse_path(path) == expected
    last = path.split("/")[-1 if width == 256 else -2].removesuffix(".p")
    assert len(last) == 3 and last.isdigit()


@pytest.mark.parametrize("width", [0, 257, -1])
def test_widths_outside_a_tile_are_refused(width: int) -> None:
    with pytest.raises(TileError, match="width"):
        Tile(0, 0, width)


# -- which tiles a tree has ----------------------------------------------------------------------


def test_tiles_of_a_tree() -> None:
    assert list(tree_tiles(0)) == []
    assert list(tree_tiles(1)) == [Tile(0, 0, 1)]
    assert list(tree_tiles(256)) == [Tile(0, 0), Tile(1, 0, 1)]
    # the spec's example: "a tree of size 70,000 will be represented by 273 full level 0 tiles,
    # one partial level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of
    # width 17, and one partial level 2 tile of width 1"; and 256 leaves by a full level 0 tile
    # and a partial level 1 tile of width 1
    size = 70_000
    tiles = list(tree_tiles(size))
    assert tiles[:2] == [Tile(0, 0), Tile(0, 1)]
    assert tiles[272:274] == [Tile(0, 272), Tile(0, 273, 112)]
    assert tiles[274:] == [Tile(1, 0), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert len(tiles) == 273 + 1 + 1 + 1 + 1
    assert list(tree_bundles(size))[-1] == Bundle(273, 112)


def test_changed_tiles_are_those_a_growing_tree_writes() -> None:
    assert list(changed_tiles(250, 260)) == [Tile(0, 0), Tile(0, 1, 4), Tile(1, 0, 1)]
    assert list(changed_tiles(260, 261)) == [Tile(0, 1, 5)]
    assert list(changed_tiles(7, 7)) == []
    for old, new in [(0, 1), (255, 65_536), (65_535, 65_537), (1000, 300_000)]:
        changed = set(changed_tiles(old, new))
        assert changed == set(tree_tiles(new)) - set(tree_tiles(old))


def test_a_subtree_is_found_in_one_tile_of_its_level() -> None:
    assert tile_for_subtree(5, 6, 10) == (Tile(0, 0, 10), 0, 5)
    assert tile_for_subtree(256, 512, 70_000) == (Tile(1, 0, 256), 0, 1)
    assert tile_for_subtree(512, 1024, 70_000) == (Tile(1, 0, 256), 1, 1)
    assert tile_for_subtree(65_536, 65_536 + 4096, 70_000) == (Tile(1, 1, 17), 4, 0)
    assert tile_for_subtree(0, 65_536, 70_000) == (Tile(2, 0, 1), 0, 0)
    with pytest.raises(TileError, match="not a complete subtree"):
        tile_for_subtree(0, 3, 10)
    with pytest.raises(TileError, match="not a complete subtree"):
        tile_for_subtree(8, 16, 10)


def test_tile_hashes_give_every_complete_subtree() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(256)]
    memory = merkle.MemorySubtrees(leaves)
    tile = TileHashes(leaves[:200])
    for height in range(8):
        for offset in range(200 >> height):
            start = offset << height
            assert tile.node(height, offset) == memory.hash(start, start + (1 << height))
    with pytest.raises(TileError):
        tile.node(7, 1)
    assert full_tile_root(leaves) == memory.hash(0, 256) == merkle.root_of_hashes(leaves)


# -- entry bundles -------------------------------------------------------------------------------


def test_bundle_encoding_is_uint16_length_then_bytes() -> None:
    assert encode_entries([b"", b"ab", bytes(300)]) == (
        b"\x00\x00" + b"\x00\x02ab" + b"\x01\x2c" + bytes(300)
    )
    assert decode_bundle(encode_entries([b"", b"ab", bytes(300)])) == [b"", b"ab", bytes(300)]
    assert decode_bundle(encode_entries([bytes(65_535)])) == [bytes(65_535)]
    with pytest.raises(TileError, match="65535"):
        encode_entries([b"x", bytes(65_536)])
    with pytest.raises(TileError, match="claims 2 bytes"):
        decode_bundle(b"\x00\x02a")
    with pytest.raises(TileError, match="inside the length"):
        decode_bundle(b"\x00\x01a\x00")
    with pytest.raises(TileError, match="at most 256"):
        decode_bundle(encode_entries([b""] * 257))


@given(st.lists(st.binary(max_size=70), max_size=256))
def test_bundles_round_trip(entries: list[bytes]) -> None:
    assert decode_bundle(encode_entries(entries)) == entries


# -- the tile store ------------------------------------------------------------------------------


def _fill(engine: Engine, rng: random.Random, total: int, batches: list[int]) -> list[bytes]:
    leaves: list[bytes] = []
    while len(leaves) < total:
        batch = [rng.randbytes(rng.randint(0, 48)) for _ in range(rng.choice(batches))]
        with engine.begin() as conn:
            assert tile_store.append(conn, batch) == len(leaves)
        leaves += batch
    return leaves


def test_store_agrees_with_the_memory_tree(engine: Engine) -> None:
    rng = random.Random(15)
    leaves = _fill(engine, rng, 70_000, [1, 2, 3, 255, 256, 257, 511, 4_000, 20_000])
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    memory = merkle.MemorySubtrees(hashes)
    n = len(leaves)
    sizes = {1, 2, 3, 255, 256, 257, 65_535, 65_536, 65_537, n}
    sizes |= {rng.randint(1, n) for _ in range(30)}
    with engine.connect() as conn:
        assert tile_store.tree_size(conn) == n
        for size in sorted(sizes):
            assert tile_store.root(conn, size) == merkle.tree_root(memory, size), size
            for index in {0, size - 1, rng.randrange(size)}:
                assert tile_store.inclusion_proof(conn, index, size) == (
                    merkle.inclusion_proof_from(memory, index, size)
                )
            for old in {1, size, rng.randint(1, size)}:
                assert tile_store.consistency_proof(conn, old, size) == (
                    merkle.consistency_proof_from(memory, old, size)
                )
        source = tile_store.TileSubtrees(conn, n)
        index = rng.randrange(n)
        proof = merkle.inclusion_proof_from(source, index, n)
        merkle.verify_inclusion(hashes[index], index, n, proof, merkle.tree_root(memory, n))
        for bundle in tree_bundles(n):
            data = tile_store.read_bundle(conn, bundle)
            assert data is not None
            first = bundle.index * 256
            assert decode_bundle(data) == leaves[first : first + bundle.width]
        assert tile_store.read_bundle(conn, Bundle(0, 3)) == encode_entries(leaves[:3])


def test_stored_tiles_are_the_specs_tiles(engine: Engine) -> None:
    rng = random.Random(7)
    leaves = _fill(engine, rng, 66_000, [100, 1_000, 3_000])
    n = len(leaves)
    memory = merkle.MemorySubtrees([merkle.leaf_hash(leaf) for leaf in leaves])
    with engine.connect() as conn:
        for tile in tree_tiles(n):
            height = 8 * tile.level
            first = tile.first << height
            expected = b"".join(
                memory.hash(first + (i << height), first + ((i + 1) << height))
                for i in range(tile.width)
            )
            assert tile_store.read_tile(conn, tile) == expected, tile.path
        assert n % 256, "the last leaf tile is partial"
        assert tile_store.read_tile(conn, Tile(0, n // 256)) is None  # not full yet
        narrower = Tile(0, 0, 3)
        assert tile_store.read_tile(conn, narrower) == b"".join(
            merkle.leaf_hash(leaf) for leaf in leaves[:3]
        )
        assert tile_store.read_tile(conn, Tile(0, 10_000)) is None


def test_an_empty_batch_writes_nothing_and_a_long_entry_nothing_at_all(engine: Engine) -> None:
    with engine.begin() as conn:
        assert tile_store.append(conn, []) == 0
        assert tile_store.append(conn, [b"a", b"b"]) == 0
        with pytest.raises(TileError, match="65535"):
            tile_store.append(conn, [b"c", bytes(70_000)])
        assert tile_store.tree_size(conn) == 2
        assert tile_store.root(conn, 2) == merkle.root([b"a", b"b"])
        assert tile_store.root(conn, 0) == merkle.EMPTY_ROOT


def test_a_rolled_back_batch_leaves_the_tree_as_it_was(engine: Engine) -> None:
    with engine.begin() as conn:
        tile_store.append(conn, [b"a"] * 300)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        tile_store.append(conn, [b"b"] * 300)
        raise RuntimeError("the record's own write failed")
    with engine.begin() as conn:
        assert tile_store.tree_size(conn) == 300
        assert tile_store.append(conn, [b"c"]) == 300
        assert tile_store.root(conn, 301) == merkle.root([b"a"] * 300 + [b"c"])


def test_asking_beyond_the_stored_tree_is_an_error(engine: Engine) -> None:
    with engine.begin() as conn:
        tile_store.append(conn, [b"x"] * 10)
    with engine.connect() as conn:
        with pytest.raises(tile_store.TileStoreError, match="fewer than 300"):
            tile_store.root(conn, 300)
        with pytest.raises(tile_store.TileStoreError, match="needs 20"):
            tile_store.root(conn, 20)
        with pytest.raises(merkle.TreeError):
            tile_store.inclusion_proof(conn, 10, 10)


def _measured(conn: Connection, size: int, prove: str, arg: int) -> tuple[list[bytes], Any]:
    """A proof from tiles as ``tile_store`` makes it, with the reader that made it."""
    build = getattr(merkle, f"{prove}_proof_from")
    dry = tile_store._Recorder()
    build(dry, arg, size)
    source = tile_store.TileSubtrees(conn, size)
    source.prefetch(dry.ranges)
    return build(source, arg, size), source


def test_a_proof_reads_one_tile_per_level_in_one_query(engine: Engine) -> None:
    # 2**17 + 2**16 + 2**9 + 2**6 + 5 leaves: three tile levels, each with a partial tile
    size = 2**17 + 2**16 + 2**9 + 2**6 + 5
    batch = [i.to_bytes(4, "big") for i in range(size)]
    with engine.begin() as conn:
        tile_store.append(conn, batch[:1000])
        tile_store.append(conn, batch[1000:])
    memory = merkle.MemorySubtrees([merkle.leaf_hash(leaf) for leaf in batch])
    rng = random.Random(3)
    with engine.connect() as conn:
        for _ in range(40):
            index, old = rng.randrange(size), rng.randint(1, size - 1)
            proof, source = _measured(conn, size, "inclusion", index)
            assert proof == merkle.inclusion_proof_from(memory, index, size)
            # the leaf's tile on each level; the right edge from the size's peaks row
            assert source.queries == 1 and source.peaks_read and source.tiles_read <= 3
            proof, source = _measured(conn, size, "consistency", old)
            assert proof == merkle.consistency_proof_from(memory, old, size)
            assert source.queries == 1 and source.tiles_read <= 3
            # a size no append ended at has no peaks row: its edge comes from partial tiles
            inner = rng.randint(1001, size - 1)
            leaf = rng.randrange(inner)
            proof, source = _measured(conn, inner, "inclusion", leaf)
            assert proof == merkle.inclusion_proof_from(memory, leaf, inner)
            assert source.queries <= 2 and not source.peaks_read and source.tiles_read <= 6
        assert tile_store.root(conn, size) == merkle.tree_root(memory, size)
        assert tile_store.root(conn, 1000) == merkle.tree_root(memory, 1000)


def test_concurrent_appenders_integrate_one_after_another(engine: Engine) -> None:
    def appender(worker: int) -> list[tuple[int, list[bytes]]]:
        rng = random.Random(worker)
        done = []
        for n in range(15):
            batch = [f"{worker}:{n}:{i}".encode() for i in range(rng.choice([1, 7, 200, 300]))]
            with write_transaction(engine) as conn:
                done.append((tile_store.append(conn, batch), batch))
        return done

    with ThreadPoolExecutor(4) as pool:
        results = [item for done in pool.map(appender, range(4)) for item in done]
    leaves: list[bytes] = []
    for first, batch in sorted(results):
        assert first == len(leaves)
        leaves += batch
    with engine.connect() as conn:
        assert tile_store.tree_size(conn) == len(leaves)
        assert tile_store.root(conn, len(leaves)) == merkle.root(leaves)
        for bundle in tree_bundles(len(leaves)):
            data = tile_store.read_bundle(conn, bundle)
            assert data is not None
            assert decode_bundle(data) == leaves[bundle.index * 256 :][: bundle.width]


def test_peak_ranges_are_the_set_bits_of_the_size() -> None:
    # 70,000 = 65,536 + 4,096 + 256 + 64 + 32 + 16
    assert peak_ranges(0) == []
    assert peak_ranges(1) == [(0, 1)]
    assert peak_ranges(70_000) == [
        (0, 65_536),
        (65_536, 69_632),
        (69_632, 69_888),
        (69_888, 69_952),
        (69_952, 69_984),
        (69_984, 70_000),
    ]


@given(st.integers(0, 600), st.integers(0, 600))
def test_peaks_grown_in_steps_are_the_trees_complete_subtrees(first: int, more: int) -> None:
    hashes = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(first + more)]
    memory = merkle.MemorySubtrees(hashes)
    peaks = extend_peaks(extend_peaks([], 0, hashes[:first]), first, hashes[first:])
    assert peaks == [memory.hash(a, b) for a, b in peak_ranges(first + more)]
    with pytest.raises(TileError, match="peaks"):
        extend_peaks(peaks[:-1] if peaks else [hashes[0]] if hashes else [b"x"], first + more, [])
