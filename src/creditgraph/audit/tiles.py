"""C2SP tlog-tiles: tile coordinates and paths, which tiles a tree has, subtree hashes from tiles,
and entry bundles. Pure: bytes and integers in, bytes and integers out.

How the spec lays a tree of ``size`` leaves out (https://c2sp.org/tlog-tiles), as read here:

- Tiles have height 8: a tile holds up to 256 consecutive hashes of one level of the RFC 6962
  tree, 32 bytes each, concatenated. A level-``L`` tile holds hashes of tree level ``8L``:
  level 0 the leaf hashes, level 1 the roots of complete 256-leaf subtrees, level 2 of
  65,536-leaf subtrees, and so on. Tile ``N`` of level ``L`` holds the level-``8L`` nodes
  ``256N .. 256N+255``. The seven tree levels between two tile levels are not stored: they
  are hashed back from the tile below, so any complete subtree of height ``h`` is a hash in, or
  at most 127 pair hashes over, one tile of level ``h // 8``.
- A tree of ``size`` leaves has ``c = size >> 8L`` complete nodes on tree level ``8L``: full
  tiles ``0 .. c//256 - 1`` and, when ``c % 256`` is not 0, one partial tile ``c // 256`` of
  width ``c % 256``. A level exists while ``c > 0``; empty tiles are never served. A partial
  tile is never hashed into the level above. Hashes never change once written, so a partial
  tile is a prefix of every wider one and of the full tile that follows it: the spec requires
  the partial tiles of every checkpointed size, and a store that keeps one row per tile,
  widened in place, still has them all.
- Paths, relative to the log's prefix: ``tile/<L>/<N>[.p/<W>]``. ``L`` is decimal 0..63
  without leading zeros; ``N`` is split into 3-digit zero-padded groups, every group but the
  last prefixed with ``x`` (1234067 is ``x001/x234/067``, 5 is ``005``); ``.p/<W>`` is added
  to a partial tile only, ``W`` decimal 1..255 without leading zeros. Entry bundles are
  ``tile/entries/<N>[.p/<W>]`` with the same ``N`` and ``W`` rules.
- An entry bundle holds entries ``256N .. 256N+W-1``, each as a big-endian uint16 length and
  then its bytes, so an entry is at most 65,535 bytes.

Parsing is strict: a path is accepted only in the one spelling ``tile_path`` writes (Go's
parser would also take ``x000/005``), so every tile has exactly one address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256

from creditgraph.audit.merkle import HASH_SIZE, NODE_PREFIX

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE


class TileError(ValueError):
    """A tile, path, bundle or subtree was asked for with values the spec does not allow."""


@dataclass(frozen=True, order=True)
class Tile:
    """Tile ``index`` of tile level ``level`` (tree level ``8 * level``), ``width`` hashes wide."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_level(self.level)
        _check_index(self.index)
        _check_width(self.width)

    @property
    def full(self) -> bool:
        """Whether the tile holds all 256 hashes (and so never changes again)."""
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The tile's path under the log's prefix."""
        return tile_path(self.level, self.index, self.width)

    @property
    def first(self) -> int:
        """The index, on tree level ``8 * level``, of the tile's first hash."""
        return self.index * TILE_WIDTH


@dataclass(frozen=True, order=True)
class Bundle:
    """Entry bundle ``index``: entries ``256 * index`` to ``256 * index + width - 1``."""

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_index(self.index)
        _check_width(self.width)

    @property
    def full(self) -> bool:
        """Whether the bundle holds all 256 entries."""
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The bundle's path under the log's prefix."""
        return bundle_path(self.index, self.width)


# -- paths ---------------------------------------------------------------------------------------

_GROUP = re.compile(r"[0-9]{3}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def encode_index(index: int) -> str:
    """``N`` as path elements: 3-digit groups, all but the last prefixed ``x``."""
    _check_index(index)
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def decode_index(text: str) -> int:
    """The ``N`` that ``encode_index`` spelled as ``text``; any other spelling is refused."""
    parts = text.split("/")
    value = 0
    for position, part in enumerate(parts):
        digits = part[1:] if position < len(parts) - 1 and part.startswith("x") else part
        if position < len(parts) - 1 and not part.startswith("x"):
            raise TileError(f"tile index {text!r}: element {part!r} lacks its 'x' prefix")
        if not _GROUP.fullmatch(digits):
            raise TileError(f"tile index {text!r}: element {part!r} is not three digits")
        value = value * 1000 + int(digits)
    if encode_index(value) != text:
        raise TileError(f"tile index {text!r} is not written as the spec writes {value}")
    return value


def _suffix(width: int) -> str:
    _check_width(width)
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>`` for a full tile, ``tile/<L>/<N>.p/<W>`` for a partial one."""
    _check_level(level)
    return f"tile/{level}/{encode_index(index)}{_suffix(width)}"


def bundle_path(index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>`` for a full bundle, ``tile/entries/<N>.p/<W>`` for a partial one."""
    return f"tile/entries/{encode_index(index)}{_suffix(width)}"


def parse_path(path: str) -> Tile | Bundle:
    """The tile or entry bundle at ``path`` (relative to the log's prefix), spelled exactly as
    ``tile_path`` or ``bundle_path`` writes it."""
    if not path.startswith("tile/"):
        raise TileError(f"{path!r} does not start with 'tile/'")
    head, _, rest = path[len("tile/") :].partition("/")
    width = TILE_WIDTH
    marker = rest.rfind(".p/")
    if marker >= 0:
        width_text = rest[marker + len(".p/") :]
        if not _DECIMAL.fullmatch(width_text) or not 1 <= int(width_text) < TILE_WIDTH:
            raise TileError(f"{path!r}: partial width {width_text!r} is not 1..255")
        width, rest = int(width_text), rest[:marker]
    index = decode_index(rest)
    if head == "entries":
        return Bundle(index, width)
    if not _DECIMAL.fullmatch(head) or int(head) > MAX_LEVEL:
        raise TileError(f"{path!r}: level {head!r} is neither 0..{MAX_LEVEL} nor 'entries'")
    return Tile(int(head), index, width)


# -- which tiles a tree has ----------------------------------------------------------------------


def level_count(size: int, level: int) -> int:
    """How many complete nodes tree level ``8 * level`` has in a tree of ``size`` leaves."""
    _check_size(size)
    return size >> (TILE_HEIGHT * level)


def tile_levels(size: int) -> int:
    """How many tile levels a tree of ``size`` leaves has (0 for the empty tree)."""
    _check_size(size)
    levels = 0
    while size >> (TILE_HEIGHT * levels):
        levels += 1
    return levels


def tiles_of_level(count: int, level: int, start: int = 0) -> Iterator[Tile]:
    """The tiles of ``level`` from tile ``start`` on when the level has ``count`` nodes."""
    for index in range(start, (count + TILE_WIDTH - 1) // TILE_WIDTH):
        yield Tile(level, index, min(TILE_WIDTH, count - index * TILE_WIDTH))


def tree_tiles(size: int) -> Iterator[Tile]:
    """Every tile of a tree of ``size`` leaves, level by level: full ones and the partial."""
    for level in range(tile_levels(size)):
        yield from tiles_of_level(level_count(size, level), level)


def changed_tiles(old_size: int, new_size: int) -> Iterator[Tile]:
    """The tiles of the ``new_size`` tree that the ``old_size`` tree lacks or has narrower:
    what growing the tree writes."""
    _check_size(old_size)
    if new_size < old_size:
        raise TileError(f"a tree does not shrink from {old_size} to {new_size} leaves")
    for level in range(tile_levels(new_size)):
        old, new = level_count(old_size, level), level_count(new_size, level)
        if new > old:
            yield from tiles_of_level(new, level, old // TILE_WIDTH)


def tree_bundles(size: int) -> Iterator[Bundle]:
    """The entry bundles of a tree of ``size`` leaves: full ones and the partial."""
    _check_size(size)
    for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        yield Bundle(index, min(TILE_WIDTH, size - index * TILE_WIDTH))


def locate_subtree(start: int, end: int, size: int) -> tuple[int, int, int, int, int]:
    """``tile_for_subtree`` as plain integers (level, index, visible width, height, offset),
    without building a ``Tile``: proofs call it once per hash."""
    width = end - start
    if width <= 0 or width & (width - 1) or start % width or end > size or start < 0:
        raise TileError(f"[{start}, {end}) is not a complete subtree of a tree of {size} leaves")
    height = width.bit_length() - 1
    level, rest = divmod(height, TILE_HEIGHT)
    first = start >> (TILE_HEIGHT * level)
    index = first >> TILE_HEIGHT
    visible = min(TILE_WIDTH, (size >> (TILE_HEIGHT * level)) - (index << TILE_HEIGHT))
    return level, index, visible, rest, (first & (TILE_WIDTH - 1)) >> rest


def tile_for_subtree(start: int, end: int, size: int) -> tuple[Tile, int, int]:
    """Where the complete subtree over leaves [start, end) of a ``size`` tree is found: the tile
    of level ``h // 8`` as wide as the tree shows it, and the subtree's height and offset within
    that tile (a hash of the tile when the height is 0, else the root over 2**height of them)."""
    level, index, visible, height, offset = locate_subtree(start, end, size)
    return Tile(level, index, visible), height, offset


def tiles_for_subtrees(ranges: Iterable[tuple[int, int]], size: int) -> list[Tile]:
    """The distinct tiles that the complete subtrees ``ranges`` of a ``size`` tree are read from."""
    return sorted({tile_for_subtree(start, end, size)[0] for start, end in ranges})


# -- the right edge: the complete subtrees a tree is made of ------------------------------------


def peak_ranges(size: int) -> list[tuple[int, int]]:
    """The complete subtrees a tree of ``size`` leaves is made of, largest first, one per set bit
    of ``size``: every hash a proof needs from the right edge of that tree is a fold of these."""
    _check_size(size)
    ranges = []
    start = 0
    for height in range(size.bit_length() - 1, -1, -1):
        if size >> height & 1:
            ranges.append((start, start + (1 << height)))
            start += 1 << height
    return ranges


def extend_peaks(peaks: Sequence[bytes], size: int, leaf_hashes: Iterable[bytes]) -> list[bytes]:
    """The peaks of the tree of ``size`` leaves grown by ``leaf_hashes``: a leaf closes one
    subtree per trailing 1 bit of the size it joins."""
    if len(peaks) != size.bit_count():
        raise TileError(f"a tree of {size} leaves has {size.bit_count()} peaks, not {len(peaks)}")
    stack = list(peaks)
    for leaf in leaf_hashes:
        stack.append(leaf)
        carry = size
        while carry & 1:
            right = stack.pop()
            stack.append(sha256(NODE_PREFIX + stack.pop() + right).digest())
            carry >>= 1
        size += 1
    return stack


# -- hashes within a tile ------------------------------------------------------------------------


def split_hashes(data: bytes) -> list[bytes]:
    """A tile's bytes as its hashes; refuses a length that is not 1..256 whole hashes."""
    count, extra = divmod(len(data), HASH_SIZE)
    if extra or not 1 <= count <= TILE_WIDTH:
        raise TileError(f"a tile of {len(data)} bytes is not 1 to {TILE_WIDTH} hashes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


class TileHashes:
    """The hashes of one tile, and the subtree roots above them, hashed once when first asked.

    ``node(height, offset)`` is the root over hashes ``offset << height`` to
    ``(offset + 1) << height`` of the tile; a proof asks for one sibling per height, so only
    the nodes it needs are hashed (247 for the eight siblings of a leaf's path).
    """

    def __init__(self, hashes: Sequence[bytes]) -> None:
        if not 1 <= len(hashes) <= TILE_WIDTH:
            raise TileError(f"a tile holds 1 to {TILE_WIDTH} hashes, not {len(hashes)}")
        self._hashes = list(hashes)
        self._memo: dict[tuple[int, int], bytes] = {}

    @property
    def width(self) -> int:
        """How many hashes the tile holds."""
        return len(self._hashes)

    def node(self, height: int, offset: int) -> bytes:
        """The root of the complete subtree of ``2**height`` tile hashes at ``offset``."""
        if not 0 <= height < TILE_HEIGHT or offset < 0 or (offset + 1) << height > self.width:
            raise TileError(
                f"no complete node of height {height} at {offset} in a tile of width {self.width}"
            )
        if height == 0:
            return self._hashes[offset]
        key = (height, offset)
        found = self._memo.get(key)
        if found is None:
            found = _fold(self._hashes[offset << height : (offset + 1) << height])
            self._memo[key] = found
        return found


def _fold(row: list[bytes]) -> bytes:
    """The root over a power-of-two run of hashes, by pairs level by level (``node_hash``
    inlined: this loop is most of a proof's time)."""
    while len(row) > 1:
        row = [sha256(NODE_PREFIX + row[i] + row[i + 1]).digest() for i in range(0, len(row), 2)]
    return row[0]


def full_tile_root(hashes: Sequence[bytes]) -> bytes:
    """The root over the 256 hashes of a full tile, by pairs level by level."""
    if len(hashes) != TILE_WIDTH:
        raise TileError(f"a full tile has {TILE_WIDTH} hashes, not {len(hashes)}")
    return _fold(list(hashes))


# -- entry bundles -------------------------------------------------------------------------------


def encode_entries(entries: Iterable[bytes]) -> bytes:
    """Entries as a bundle (or part of one): each a big-endian uint16 length, then its bytes."""
    out = bytearray()
    for position, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(
                f"entry {position} is {len(entry)} bytes; a bundle holds at most {MAX_ENTRY_SIZE}"
            )
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; refuses a truncated one or one of more than 256 entries."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise TileError(f"entry bundle ends inside the length of entry {len(entries)}")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise TileError(
                f"entry {len(entries)} claims {length} bytes, the bundle has {len(data) - at - 2}"
            )
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    if len(entries) > TILE_WIDTH:
        raise TileError(f"entry bundle holds {len(entries)} entries, at most {TILE_WIDTH}")
    return entries


# -- checks --------------------------------------------------------------------------------------


def _check_level(level: int) -> None:
    if not 0 <= level <= MAX_LEVEL:
        raise TileError(f"tile level {level} is not 0..{MAX_LEVEL}")


def _check_index(index: int) -> None:
    if index < 0:
        raise TileError(f"tile index {index} is negative")


def _check_width(width: int) -> None:
    if not 1 <= width <= TILE_WIDTH:
        raise TileError(f"tile width {width} is not 1..{TILE_WIDTH}")


def _check_size(size: int) -> None:
    if size < 0:
        raise TileError(f"tree size {size} is negative")
