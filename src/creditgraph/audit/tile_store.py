"""The audit log's Merkle tree stored as C2SP tiles in the OLTP database (SQLite or PostgreSQL).

``append`` integrates a batch of entries inside the caller's transaction: it writes the entry
bundles, the new leaf hashes and every tile above them that the batch fills or widens, and the
new size. It first bumps the one ``audit_tree`` row, which takes SQLite's write lock or
PostgreSQL's row lock at once, so concurrent appenders integrate one after another instead of
both reading the same size.

``TileSubtrees(conn, size)`` answers ``merkle.SubtreeHashes`` from the tiles a tree of ``size``
shows (a partial tile is read as a prefix of its row), keeping every tile it read for the
object's life. ``root``, ``inclusion_proof`` and ``consistency_proof`` first walk the proof with
dummy hashes to learn which subtrees it needs, then fetch all their tiles in one query: a proof
at 1M leaves is one round trip and five or six tiles, whatever the leaf.

Tile rows are never shrunk or rewritten with other hashes; the tiles module says how the spec
lays them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from sqlalchemy import Select, and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection

from creditgraph.audit import merkle
from creditgraph.audit.tiles import (
    TILE_WIDTH,
    Bundle,
    Tile,
    TileHashes,
    decode_bundle,
    encode_entries,
    full_tile_root,
    locate_subtree,
    split_hashes,
)
from creditgraph.store.models import AuditEntryBundle, AuditTile, AuditTree, table_of

TILES = table_of(AuditTile)
BUNDLES = table_of(AuditEntryBundle)
TREE = table_of(AuditTree)
_TREE_ROW = 1


@lru_cache(maxsize=64)
def _read_tiles(count: int) -> Select[tuple[int, int, int, bytes]]:
    """One statement per number of tiles, compiled once: ``(level, idx) = ... OR ...``, which
    SQLite answers from the primary key where a row-value ``IN`` scans the table."""
    return select(TILES.c.level, TILES.c.idx, TILES.c.width, TILES.c.hashes).where(
        or_(
            *(
                and_(TILES.c.level == bindparam(f"l{i}"), TILES.c.idx == bindparam(f"i{i}"))
                for i in range(count)
            )
        )
    )


class TileStoreError(Exception):
    """The stored tiles disagree with the tree size asked for, or with each other."""


def tree_size(conn: Connection) -> int:
    """How many entries the log has integrated (0 before the first append)."""
    size = conn.execute(select(TREE.c.size).where(TREE.c.id == _TREE_ROW)).scalar_one_or_none()
    return int(size or 0)


def append(conn: Connection, entries: Sequence[bytes]) -> int:
    """Integrate ``entries`` as the next leaves, in the caller's transaction; the first one's index.

    Writes the bundles, the leaf tiles and every tile above them the batch changes, then the
    size. Nothing is committed here: the caller's commit publishes the whole batch or none of it.
    """
    encode_entries(entries)  # refuses an entry too long for a bundle before anything is written
    size = _lock_size(conn)
    if not entries:
        return size
    _write_bundles(conn, size, entries)
    new_hashes = [merkle.leaf_hash(entry) for entry in entries]
    level, old_count = 0, size
    while new_hashes:
        new_hashes = _write_level(conn, level, old_count, new_hashes)
        level, old_count = level + 1, old_count // TILE_WIDTH
    conn.execute(update(TREE).where(TREE.c.id == _TREE_ROW).values(size=size + len(entries)))
    return size


def _lock_size(conn: Connection) -> int:
    bumped = conn.execute(
        update(TREE).where(TREE.c.id == _TREE_ROW).values(size=TREE.c.size)
    ).rowcount
    if not bumped:
        conn.execute(insert(TREE).values(id=_TREE_ROW, size=0))
        return 0
    return tree_size(conn)


def _write_level(conn: Connection, level: int, old_count: int, new: list[bytes]) -> list[bytes]:
    """Append ``new`` hashes to tree level ``8 * level`` (which had ``old_count``); the roots of
    the tiles they fill, the new hashes one tile level up."""
    first_tile, kept = divmod(old_count, TILE_WIDTH)
    stream = new
    if kept:
        row = conn.execute(
            select(TILES.c.width, TILES.c.hashes).where(
                TILES.c.level == level, TILES.c.idx == first_tile
            )
        ).one_or_none()
        if row is None or row.width != kept or len(row.hashes) != kept * merkle.HASH_SIZE:
            found = "missing" if row is None else f"{row.width} wide"
            raise TileStoreError(
                f"tile {level}/{first_tile} is {found}; a tree of {old_count} hashes on its "
                f"level needs it {kept} wide"
            )
        stream = split_hashes(bytes(row.hashes)) + new
    rows = []
    roots = []
    for offset in range(0, len(stream), TILE_WIDTH):
        chunk = stream[offset : offset + TILE_WIDTH]
        if len(chunk) == TILE_WIDTH:
            roots.append(full_tile_root(chunk))
        rows.append(
            {
                "level": level,
                "idx": first_tile + offset // TILE_WIDTH,
                "width": len(chunk),
                "hashes": b"".join(chunk),
            }
        )
    if kept:
        first = rows.pop(0)
        conn.execute(
            update(TILES)
            .where(TILES.c.level == level, TILES.c.idx == first_tile)
            .values(width=first["width"], hashes=first["hashes"])
        )
    if rows:
        conn.execute(insert(TILES), rows)
    return roots


def _write_bundles(conn: Connection, size: int, entries: Sequence[bytes]) -> None:
    first_bundle, kept = divmod(size, TILE_WIDTH)
    head = b""
    if kept:
        row = conn.execute(
            select(BUNDLES.c.width, BUNDLES.c.data).where(BUNDLES.c.idx == first_bundle)
        ).one_or_none()
        if row is None or row.width != kept:
            found = "missing" if row is None else f"{row.width} wide"
            raise TileStoreError(
                f"entry bundle {first_bundle} is {found}; a log of {size} entries needs it "
                f"{kept} wide"
            )
        head = bytes(row.data)
    rows = []
    at = 0
    for index in range(first_bundle, (size + len(entries) + TILE_WIDTH - 1) // TILE_WIDTH):
        take = TILE_WIDTH - (kept if index == first_bundle else 0)
        chunk = entries[at : at + take]
        width = len(chunk) + (kept if index == first_bundle else 0)
        data = (head if index == first_bundle else b"") + encode_entries(chunk)
        rows.append({"idx": index, "width": width, "data": data})
        at += take
    if kept:
        first = rows.pop(0)
        conn.execute(
            update(BUNDLES)
            .where(BUNDLES.c.idx == first_bundle)
            .values(width=first["width"], data=first["data"])
        )
    if rows:
        conn.execute(insert(BUNDLES), rows)


class TileSubtrees:
    """``merkle.SubtreeHashes`` of the tree of ``size`` leaves, read from the stored tiles.

    Each tile is read once per object and its inner nodes hashed only as asked; ``prefetch``
    reads the tiles of many subtrees in one query. ``tiles_read`` and ``queries`` count the work.
    """

    def __init__(self, conn: Connection, size: int) -> None:
        if size < 0:
            raise merkle.TreeError(f"tree size {size} is negative")
        self.conn = conn
        self.size = size
        self.tiles_read = 0
        self.queries = 0
        self._tiles: dict[tuple[int, int], TileHashes] = {}

    def hash(self, start: int, end: int) -> bytes:
        level, index, visible, height, offset = locate_subtree(start, end, self.size)
        found = self._tiles.get((level, index))
        if found is None:
            self._fetch([Tile(level, index, visible)])
            found = self._tiles[(level, index)]
        return found.node(height, offset)

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Read, in one query, the tiles of all complete subtrees ``ranges`` not read yet."""
        wanted: dict[tuple[int, int], int] = {}
        for start, end in ranges:
            level, index, visible, _, _ = locate_subtree(start, end, self.size)
            if (level, index) not in self._tiles:
                wanted[(level, index)] = visible
        self._fetch([Tile(level, index, visible) for (level, index), visible in wanted.items()])

    def _fetch(self, tiles: Sequence[Tile]) -> None:
        if not tiles:
            return
        by_key = {(t.level, t.index): t for t in tiles}
        params = {}
        for i, (level, index) in enumerate(by_key):
            params[f"l{i}"], params[f"i{i}"] = level, index
        rows = self.conn.execute(_read_tiles(len(by_key)), params).all()
        self.queries += 1
        for row in rows:
            tile = by_key[(row.level, row.idx)]
            if row.width < tile.width:
                raise TileStoreError(
                    f"tile {row.level}/{row.idx} is {row.width} wide; a tree of {self.size} "
                    f"leaves needs {tile.width}"
                )
            data = bytes(row.hashes)[: tile.width * merkle.HASH_SIZE]
            self._tiles[(row.level, row.idx)] = TileHashes(split_hashes(data))
            self.tiles_read += 1
        missing = [t for t in tiles if (t.level, t.index) not in self._tiles]
        if missing:
            raise TileStoreError(
                f"tile {missing[0].level}/{missing[0].index} is not stored; "
                f"the log holds fewer than {self.size} entries"
            )


class _Recorder:
    """A ``SubtreeHashes`` that answers zeros and notes what was asked: a proof's shape does not
    depend on the hashes, so a dry run names every subtree the real one will read."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def hash(self, start: int, end: int) -> bytes:
        self.ranges.append((start, end))
        return bytes(merkle.HASH_SIZE)


def _prefetched(conn: Connection, size: int, dry: _Recorder) -> TileSubtrees:
    source = TileSubtrees(conn, size)
    source.prefetch(dry.ranges)
    return source


def root(conn: Connection, size: int) -> bytes:
    """The root of the log's first ``size`` entries, from one query of tiles."""
    dry = _Recorder()
    merkle.tree_root(dry, size)
    return merkle.tree_root(_prefetched(conn, size, dry), size)


def inclusion_proof(conn: Connection, index: int, size: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``, from one query."""
    dry = _Recorder()
    merkle.inclusion_proof_from(dry, index, size)
    return merkle.inclusion_proof_from(_prefetched(conn, size, dry), index, size)


def consistency_proof(conn: Connection, old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 consistency proof from ``old_size`` to ``new_size``, from one query."""
    dry = _Recorder()
    merkle.consistency_proof_from(dry, old_size, new_size)
    return merkle.consistency_proof_from(_prefetched(conn, new_size, dry), old_size, new_size)


def read_tile(conn: Connection, tile: Tile) -> bytes | None:
    """The bytes of ``tile`` as the spec serves it, or None while the log has not grown to it.

    A partial tile narrower than the stored row is its prefix: hashes never change."""
    row = conn.execute(
        select(TILES.c.width, TILES.c.hashes).where(
            TILES.c.level == tile.level, TILES.c.idx == tile.index
        )
    ).one_or_none()
    if row is None or row.width < tile.width:
        return None
    return bytes(row.hashes)[: tile.width * merkle.HASH_SIZE]


def read_bundle(conn: Connection, bundle: Bundle) -> bytes | None:
    """The bytes of entry ``bundle`` as the spec serves it, or None while the log lacks it."""
    row = conn.execute(
        select(BUNDLES.c.width, BUNDLES.c.data).where(BUNDLES.c.idx == bundle.index)
    ).one_or_none()
    if row is None or row.width < bundle.width:
        return None
    data = bytes(row.data)
    if row.width == bundle.width:
        return data
    return encode_entries(decode_bundle(data)[: bundle.width])
