"""Decision configuration: regulatory caps, the limit formula's parameters, the pricing map.

Caps are configuration because they differ by licence and change with regulation: the online
micro-loan outstanding cap (CNY 200,000), the share of annual income (one third), and the annual
rate cap (24% for a licensed micro-lender, or a multiple of the one-year LPR).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationError, model_validator

from creditgraph.canonical import sha256_of
from creditgraph.configmodel import ConfigDecimal, FrozenConfig, describe
from creditgraph.decision.errors import PolicyError


class Licence(StrEnum):
    """Which annual rate cap binds."""

    MICRO_LENDER = "micro_lender"  # a fixed cap, 24% by default
    LPR_MULTIPLE = "lpr_multiple"  # lpr_multiple x the one-year LPR (courts' protection line)


class PdBand(FrozenConfig):
    """PDs up to ``max_pd`` (inclusive) get ``factor`` of the repayment capacity."""

    max_pd: ConfigDecimal = Field(gt=0, le=1)
    factor: ConfigDecimal = Field(ge=0, le=1)


class Depth(FrozenConfig):
    """The social-data depth-and-breadth multiplier (see docs/decisions.md)."""

    floor: ConfigDecimal = Field(default=Decimal("0.30"), gt=0, le=1)
    no_social: ConfigDecimal = Field(default=Decimal("0.30"), gt=0, le=1)
    degree_full: int = Field(default=50, ge=1)
    history_full_days: int = Field(default=730, ge=1)
    sources_full: int = Field(default=3, ge=1)


class Limits(FrozenConfig):
    max_dti: ConfigDecimal = Field(default=Decimal("0.40"), gt=0, le=1)
    other_debt_months: int = Field(default=12, ge=1)
    outstanding_cap: ConfigDecimal = Field(default=Decimal("200000"), gt=0)
    income_share_cap: ConfigDecimal = Field(default=Decimal("0.3333"), gt=0, le=1)
    step: ConfigDecimal = Field(default=Decimal("100"), gt=0)
    pd_bands: tuple[PdBand, ...] = Field(min_length=1)
    depth: Depth = Depth()

    @model_validator(mode="after")
    def _check(self) -> Limits:
        edges = [band.max_pd for band in self.pd_bands]
        if edges != sorted(edges) or len(set(edges)) != len(edges):
            raise ValueError("pd_bands must have strictly increasing max_pd")
        factors = [band.factor for band in self.pd_bands]
        if factors != sorted(factors, reverse=True):
            raise ValueError("pd_bands factors must not rise with PD")
        return self


class Pricing(FrozenConfig):
    licence: Licence = Licence.MICRO_LENDER
    micro_lender_cap: ConfigDecimal = Field(default=Decimal("0.24"), gt=0, le=1)
    lpr_1y: ConfigDecimal = Field(default=Decimal("0.0300"), gt=0, le=1)
    lpr_multiple: ConfigDecimal = Field(default=Decimal(4), gt=0)
    pd_at_band_min: ConfigDecimal = Field(default=Decimal("0.01"), ge=0, lt=1)
    pd_at_band_max: ConfigDecimal = Field(default=Decimal("0.20"), gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> Pricing:
        if self.pd_at_band_min >= self.pd_at_band_max:
            raise ValueError("pd_at_band_min must be below pd_at_band_max")
        return self

    @property
    def rate_cap(self) -> Decimal:
        """The annual cap the all-in rate must not exceed under the configured licence."""
        if self.licence is Licence.LPR_MULTIPLE:
            return self.lpr_multiple * self.lpr_1y
        return self.micro_lender_cap


class _Document(FrozenConfig):
    version: str = Field(min_length=1)
    limits: Limits
    pricing: Pricing = Pricing()


@dataclass(frozen=True)
class DecisionConfig:
    version: str
    hash: str
    limits: Limits
    pricing: Pricing


def parse_config(data: dict[str, Any]) -> DecisionConfig:
    """Validate parsed configuration; errors name the field."""
    try:
        doc = _Document.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"decision config: {describe(exc)}") from None
    return DecisionConfig(
        version=doc.version, hash=sha256_of(data), limits=doc.limits, pricing=doc.pricing
    )
