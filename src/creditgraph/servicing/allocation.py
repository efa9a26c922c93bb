"""Splitting a payment over what is due, in the product's allocation order, oldest due first.

Pure integer-fen arithmetic: given the outstanding components of each due instalment and an
order, it says how many fen go where and what is left over (held as the borrower's credit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Component(StrEnum):
    PENALTY = "penalty"
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"


class AllocationBy(StrEnum):
    """``instalment``: settle the oldest instalment in full (in component order) before the
    next; ``component``: each component across all instalments (oldest first) before the next."""

    INSTALMENT = "instalment"
    COMPONENT = "component"


DEFAULT_ORDER: tuple[Component, ...] = (
    Component.PENALTY,
    Component.FEE,
    Component.INTEREST,
    Component.PRINCIPAL,
)


@dataclass(frozen=True, slots=True)
class AllocationRule:
    order: tuple[Component, ...] = DEFAULT_ORDER
    by: AllocationBy = AllocationBy.INSTALMENT

    def encode(self) -> str:
        """The rule as stored on a loan, e.g. ``instalment:penalty,fee,interest,principal``."""
        return f"{self.by.value}:{','.join(c.value for c in self.order)}"

    @classmethod
    def decode(cls, text: str) -> AllocationRule:
        by, _, order = text.partition(":")
        return cls(tuple(Component(c) for c in order.split(",")), AllocationBy(by))


def validate_order(order: Sequence[str]) -> tuple[Component, ...]:
    """The order as components; it must name each of the four components exactly once."""
    try:
        parsed = tuple(Component(c) for c in order)
    except ValueError as exc:
        raise ValueError(f"allocation order: {exc}") from None
    if sorted(parsed) != sorted(Component):
        raise ValueError(
            "allocation order must name penalty, fee, interest and principal exactly once, "
            f"got {list(order)}"
        )
    return parsed


@dataclass(frozen=True, slots=True)
class Due:
    """What is outstanding on one instalment (``key`` identifies it to the caller)."""

    key: int
    outstanding: Mapping[Component, int]


@dataclass(frozen=True, slots=True)
class Allocated:
    key: int
    component: Component
    fen: int


def allocate(
    amount_fen: int, dues: Sequence[Due], rule: AllocationRule = AllocationRule()
) -> tuple[list[Allocated], int]:
    """The allocations of ``amount_fen`` over ``dues`` (oldest first) and the fen left over."""
    if amount_fen < 0:
        raise ValueError(f"amount must not be negative, got {amount_fen} fen")
    left = amount_fen
    out: list[Allocated] = []
    if rule.by is AllocationBy.INSTALMENT:
        pairs = [(due, c) for due in dues for c in rule.order]
    else:
        pairs = [(due, c) for c in rule.order for due in dues]
    for due, component in pairs:
        if left == 0:
            break
        owed = due.outstanding.get(component, 0)
        if owed <= 0:
            continue
        take = min(owed, left)
        out.append(Allocated(due.key, component, take))
        left -= take
    return out, left
