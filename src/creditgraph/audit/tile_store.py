"""The audit log's Merkle tree stored as C2SP tiles in the OLTP database (SQLite or PostgreSQL).

``append`` integrates a batch of entries inside the caller's transaction: it writes the entry
bundles, the new leaf hashes, every tile above them that the batch fills or widens, the peaks
of the new size (the roots of the complete subtrees the tree is made of) and the new size. It
first bumps the one ``audit_tree`` row, which takes SQLite's write lock or PostgreSQL's row lock
at once, so concurrent appenders integrate one after another instead of both reading one size.

``TileSubtrees(conn, size)`` answers ``merkle.SubtreeHashes`` from the tiles a tree of ``size``
shows (a partial tile is read as a prefix of its row), keeping every tile it read for the
object's life. ``root``, ``inclusion_proof`` and ``consistency_proof`` first walk the proof with
dummy hashes to learn which subtrees it needs (a proof's shape does not depend on the hashes),
then fetch them in one query. Every hash a proof needs from the right edge of the tree is a fold
of its peaks, so at a size an append ended at (every size a checkpoint can name) the edge comes
from the peaks row and the rest from one tile per level: three tiles at 1M leaves. At any other
size the edge is read from the partial tiles in a second query.

Tile rows are never shrunk or rewritten with other hashes; the tiles module says how the spec
lays them out. The peaks rows are ours, not the spec's: tiles alone still answer everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Executable,
    Select,
    and_,
    bindparam,
    insert,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Connection

from creditgraph.audit import merkle
from creditgraph.audit.tiles import (
    TILE_WIDTH,
    Bundle,
    Tile,
    TileHashes,
    decode_bundle,
    encode_entries,
    extend_peaks,
    full_tile_root,
    locate_subtree,
    peak_ranges,
    split_hashes,
)
from creditgraph.store.models import (
    AuditEntryBundle,
    AuditPeaks,
    AuditTile,
    AuditTree,
    table_of,
)

TILES = table_of(AuditTile)
BUNDLES = table_of(AuditEntryBundle)
TREE = table_of(AuditTree)
PEAKS = table_of(AuditPeaks)
_TREE_ROW = 1


_PEAKS_LEVEL = -1  # marks the peaks row among tile rows in one result


@lru_cache(maxsize=128)
def _read_tiles(count: int, peaks: bool) -> Executable:
    """One statement per number of tiles, compiled once: ``(level, idx) = ... OR ...``, which
    SQLite answers from the primary key where a row-value ``IN`` scans the table; with the
    peaks row of the size ``:size`` in the same round trip when ``peaks``."""
    parts: list[Select[Any]] = []
    if count:
        parts.append(
            select(TILES.c.level, TILES.c.idx, TILES.c.width, TILES.c.hashes).where(
                or_(
                    *(
                        and_(TILES.c.level == bindparam(f"l{i}"), TILES.c.idx == bindparam(f"i{i}"))
                        for i in range(count)
                    )
                )
            )
        )
    if peaks:
        parts.append(
            select(
                literal_column(str(_PEAKS_LEVEL)).label("level"),
                PEAKS.c.size.label("idx"),
                literal_column("0").label("width"),
                PEAKS.c.hashes.label("hashes"),
            ).where(PEAKS.c.size == bindparam("size"))
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)


class TileStoreError(Exception):
    """The stored tiles disagree with the tree size asked for, or with each other."""


def tree_size(conn: Connection) -> int:
    """How many entries the log has integrated (0 before the first append)."""
    size = conn.execute(select(TREE.c.size).where(TREE.c.id == _TREE_ROW)).scalar_one_or_none()
    return int(size or 0)


def append(conn: Connection, entries: Sequence[bytes]) -> int:
    """Integrate ``entries`` as the next leaves, in the caller's transaction; the first one's index.

    Writes the bundles, the leaf tiles and every tile above them the batch changes, the peaks of
    the new size, then the size. Nothing is committed here: the caller's commit publishes the
    whole batch or none of it.
    """
    encode_entries(entries)  # refuses an entry too long for a bundle before anything is written
    size = _lock_size(conn)
    if not entries:
        return size
    peaks = _peaks_at(conn, size)
    _write_bundles(conn, size, entries)
    new_hashes = [merkle.leaf_hash(entry) for entry in entries]
    peaks = extend_peaks(peaks, size, new_hashes)
    conn.execute(insert(PEAKS).values(size=size + len(entries), hashes=b"".join(peaks)))
    level, old_count = 0, size
    while new_hashes:
        new_hashes = _write_level(conn, level, old_count, new_hashes)
        level, old_count = level + 1, old_count // TILE_WIDTH
    conn.execute(update(TREE).where(TREE.c.id == _TREE_ROW).values(size=size + len(entries)))
    return size


def _peaks_at(conn: Connection, size: int) -> list[bytes]:
    """The peaks of the tree of ``size``: its row, or hashed from the tiles when it has none."""
    if size == 0:
        return []
    source = TileSubtrees(conn, size)
    ranges = peak_ranges(size)
    source.prefetch(ranges)
    return [source.hash(start, end) for start, end in ranges]


def lock(conn: Connection) -> int:
    """Lock the tree for the rest of the caller's transaction and return its size: whoever
    holds it is the only one integrating (the row lock on PostgreSQL, the write lock on SQLite)."""
    return _lock_size(conn)


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
        self.peaks_read = False
        self._tiles: dict[tuple[int, int], TileHashes] = {}
        self._peaks: dict[tuple[int, int], bytes] = {}
        self._peaks_asked = False

    def hash(self, start: int, end: int) -> bytes:
        peak = self._peaks.get((start, end))
        if peak is not None:
            return peak
        level, index, visible, height, offset = locate_subtree(start, end, self.size)
        found = self._tiles.get((level, index))
        if found is None:
            self._fetch([Tile(level, index, visible)])
            found = self._tiles[(level, index)]
        return found.node(height, offset)

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Read, in one query, what the complete subtrees ``ranges`` need and was not read yet:
        the peaks row of this size for those on the right edge, tiles for the others. A size no
        append ended at has no peaks row: its edge is then read from tiles, in a second query."""
        edge = set() if self._peaks_asked else set(peak_ranges(self.size))
        inner: list[tuple[int, int]] = []
        outer: list[tuple[int, int]] = []
        for item in ranges:
            (outer if item in edge else inner).append(item)
        self._fetch(self._missing(inner), peaks=bool(outer))
        if outer and not self._peaks:
            self._fetch(self._missing(outer))

    def _missing(self, ranges: Iterable[tuple[int, int]]) -> list[Tile]:
        wanted: dict[tuple[int, int], int] = {}
        for start, end in ranges:
            level, index, visible, _, _ = locate_subtree(start, end, self.size)
            if (level, index) not in self._tiles:
                wanted[(level, index)] = visible
        return [Tile(level, index, visible) for (level, index), visible in wanted.items()]

    def _fetch(self, tiles: Sequence[Tile], peaks: bool = False) -> None:
        if not tiles and not peaks:
            return
        by_key = {(t.level, t.index): t for t in tiles}
        params = {"size": self.size} if peaks else {}
        for i, (level, index) in enumerate(by_key):
            params[f"l{i}"], params[f"i{i}"] = level, index
        rows = self.conn.execute(_read_tiles(len(by_key), peaks), params).all()
        self.queries += 1
        self._peaks_asked = self._peaks_asked or peaks
        for row in rows:
            if row.level == _PEAKS_LEVEL:
                self._read_peaks(bytes(row.hashes))
                continue
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

    def _read_peaks(self, data: bytes) -> None:
        ranges = peak_ranges(self.size)
        if len(data) != len(ranges) * merkle.HASH_SIZE:
            raise TileStoreError(
                f"the peaks of size {self.size} are {len(data)} bytes, not {len(ranges)} hashes"
            )
        hashes = [data[i : i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]
        self._peaks = dict(zip(ranges, hashes, strict=True))
        self.peaks_read = True


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
