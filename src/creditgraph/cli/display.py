"""How amounts and rates read on screen: one place, so every command writes money alike.

Money arrives as exact decimal strings or Decimals and is never turned into a float: thousands
separators for reading, the fen kept. Rates are fractions shown as percentages.
"""

from __future__ import annotations

from decimal import Decimal


def yuan(amount: Decimal | str) -> str:
    """``1234567.5`` -> ``1,234,567.50``."""
    return f"{Decimal(amount):,.2f}"


def percent(rate: Decimal | str | None, places: int = 2) -> str:
    """A fraction as a percentage: ``0.100408`` -> ``10.04%``; ``-`` when there is none."""
    if rate is None:
        return "-"
    return f"{Decimal(rate) * 100:.{places}f}%"
