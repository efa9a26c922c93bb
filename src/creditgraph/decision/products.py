"""The product catalogue: versioned configuration, validated on load, identified by its hash.

A product fixes what can be offered — amounts, terms, repayment methods, the price band, fees,
who and what it is for, and how much social data it needs. Amounts and rates are Decimal and must
be written as quoted strings in the TOML file, so no float ever touches money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import Field, ValidationError, model_validator

from creditgraph.canonical import sha256_of
from creditgraph.configmodel import ConfigDecimal, FrozenConfig, describe
from creditgraph.contracts.schema import SEGMENTS
from creditgraph.decision.errors import CatalogueError
from creditgraph.money import is_whole_fen
from creditgraph.servicing import Frequency, Method

LOAN_PURPOSES = (
    "business_operation",
    "business_startup",
    "education",
    "travel",
    "medical",
    "general_consumption",
    "wage_advance",
    "agriculture",
)
"""What a loan is for, as an application states it (not the consent purposes of the contract)."""


class Names(FrozenConfig):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class AmountRange(FrozenConfig):
    """Principal in yuan, whole fen, ``min <= max``."""

    min: ConfigDecimal = Field(gt=0)
    max: ConfigDecimal = Field(gt=0)

    @model_validator(mode="after")
    def _check(self) -> AmountRange:
        for name in ("min", "max"):
            if not is_whole_fen(getattr(self, name)):
                raise ValueError(f"{name} must be a whole number of fen")
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class RateBand(FrozenConfig):
    """Annual nominal rate band, fractions (0.12 is 12%)."""

    min: ConfigDecimal = Field(ge=0, le=1)
    max: ConfigDecimal = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> RateBand:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Fees(FrozenConfig):
    """Fees as shares of the principal; upfront and monthly fees count in the all-in rate."""

    upfront_rate: ConfigDecimal = Field(default=Decimal(0), ge=0, lt=Decimal("0.2"))
    monthly_rate: ConfigDecimal = Field(default=Decimal(0), ge=0, lt=Decimal("0.05"))
    prepayment_rate: ConfigDecimal = Field(default=Decimal(0), ge=0, lt=Decimal("0.1"))


class RequiredData(FrozenConfig):
    """The social data a product needs before it lends on it."""

    social_required: bool = False
    min_degree: int = Field(default=0, ge=0)
    min_history_days: int = Field(default=0, ge=0)
    min_sources: int = Field(default=0, ge=0)


class Product(FrozenConfig):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_-]{1,31}$")
    name: Names
    category: str = Field(min_length=1)
    amount: AmountRange
    terms: tuple[int, ...] = Field(min_length=1)
    schedule_types: tuple[Method, ...] = Field(min_length=1)
    frequency: Frequency = Frequency.MONTHLY
    rate: RateBand
    fees: Fees = Fees()
    segments: tuple[str, ...] = Field(min_length=1)
    purposes: tuple[str, ...] = Field(min_length=1)
    required_data: RequiredData = RequiredData()

    @model_validator(mode="after")
    def _check(self) -> Product:
        if any(t < 1 or t > 360 for t in self.terms) or len(set(self.terms)) != len(self.terms):
            raise ValueError(f"terms must be distinct months between 1 and 360, got {self.terms}")
        if len(set(self.schedule_types)) != len(self.schedule_types):
            raise ValueError("schedule_types has duplicates")
        unknown = sorted(set(self.segments) - set(SEGMENTS))
        if unknown:
            raise ValueError(f"segments {unknown} are not in the data contract {SEGMENTS}")
        unknown = sorted(set(self.purposes) - set(LOAN_PURPOSES))
        if unknown:
            raise ValueError(f"purposes {unknown} are not known loan purposes {LOAN_PURPOSES}")
        return self


class _Header(FrozenConfig):
    version: str = Field(min_length=1)
    products: list[dict[str, Any]] = Field(min_length=1)


@dataclass(frozen=True)
class Catalogue:
    """A validated catalogue: its products by code, version and content hash."""

    version: str
    hash: str
    products: tuple[Product, ...]

    def get(self, code: str) -> Product | None:
        return next((p for p in self.products if p.code == code), None)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.products)


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """Validate parsed catalogue data; errors name the product (code and position) and field."""
    try:
        header = _Header.model_validate(data)
    except ValidationError as exc:
        raise CatalogueError(f"catalogue: {describe(exc)}") from None
    products: list[Product] = []
    for position, raw in enumerate(header.products, start=1):
        label = f"product {raw.get('code', '?')!r} (#{position})"
        try:
            products.append(Product.model_validate(raw))
        except ValidationError as exc:
            raise CatalogueError(f"{label}: {describe(exc)}") from None
    codes = [p.code for p in products]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise CatalogueError(f"catalogue: duplicate product codes {duplicates}")
    return Catalogue(version=header.version, hash=sha256_of(data), products=tuple(products))
