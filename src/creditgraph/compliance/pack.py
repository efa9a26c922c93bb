"""The compliance pack: one jurisdiction's legal limits as validated, versioned configuration.

A pack states ceilings (rate caps by licence, the per-borrower balance cap, the income share),
what must be disclosed and how, data residency, the impact assessment of each model family and
the fairness thresholds. The lender's decision configuration may be stricter, never looser; the
check (``compliance.check``) compares the two. Pure: reading files is ``compliance.pack_files``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field, ValidationError, model_validator

from creditgraph.canonical import sha256_of
from creditgraph.configmodel import ConfigDecimal, FrozenConfig, describe


class PackError(ValueError):
    """A compliance pack that is missing, unreadable or invalid; the message names the field."""


class Bilingual(FrozenConfig):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class RateCap(FrozenConfig):
    """One licence's cap: a fixed annual rate, or a multiple of the one-year LPR."""

    annual_cap: ConfigDecimal | None = Field(default=None, gt=0, le=1)
    max_lpr_multiple: ConfigDecimal | None = Field(default=None, gt=0)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> RateCap:
        if (self.annual_cap is None) == (self.max_lpr_multiple is None):
            raise ValueError("give exactly one of annual_cap or max_lpr_multiple")
        return self


class Lending(FrozenConfig):
    outstanding_cap: ConfigDecimal = Field(gt=0)
    outstanding_cap_source: str = Field(min_length=1)
    income_share_cap: ConfigDecimal = Field(gt=0, le=1)
    income_share_source: str = Field(min_length=1)
    cooling_off_days: int = Field(ge=0, le=90)
    cooling_off_source: str = Field(min_length=1)


class Disclosure(FrozenConfig):
    """The all-in rate disclosure; ``{all_in_rate}`` is where the rate goes."""

    basis: str = Field(pattern="^irr$")
    source: str = Field(min_length=1)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    @model_validator(mode="after")
    def _has_placeholder(self) -> Disclosure:
        for lang in ("zh", "en"):
            if "{all_in_rate}" not in getattr(self, lang):
                raise ValueError(f"disclosure.{lang} must contain {{all_in_rate}}")
        return self

    def render(self, all_in_rate: Decimal) -> Bilingual:
        """The disclosure with the rate as a percentage to two decimals."""
        shown = f"{(all_in_rate * 100).quantize(Decimal('0.01'))}%"
        return Bilingual(
            zh=self.zh.replace("{all_in_rate}", shown), en=self.en.replace("{all_in_rate}", shown)
        )


class DataResidency(FrozenConfig):
    personal_data_in_prc: bool
    source: str = Field(min_length=1)


ATTRIBUTES = ("gender", "age_band", "region_tier", "segment")
"""The attributes fairness can be measured by: columns of ``persons`` and the age band."""


class FairnessRules(FrozenConfig):
    min_ratio: ConfigDecimal = Field(default=Decimal("0.8"), gt=0, le=1)
    min_group_size: int = Field(default=30, ge=1)
    min_outcome_group_size: int = Field(default=30, ge=1)
    age_band_edges: tuple[int, ...] = Field(default=(25, 35, 45, 55), min_length=1)
    attributes: tuple[str, ...] = Field(default=ATTRIBUTES, min_length=1)

    @model_validator(mode="after")
    def _check(self) -> FairnessRules:
        edges = list(self.age_band_edges)
        if edges != sorted(set(edges)) or edges[0] < 1:
            raise ValueError("age_band_edges must be positive and strictly increasing")
        unknown = sorted(set(self.attributes) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown attributes {unknown}; expected some of {list(ATTRIBUTES)}")
        return self


class _Document(FrozenConfig):
    jurisdiction: str = Field(pattern="^[A-Z]{2}$")
    version: str = Field(min_length=1, max_length=40)
    effective_from: date
    title: Bilingual
    rate_caps: dict[str, RateCap] = Field(min_length=1)
    lending: Lending
    disclosure: Disclosure
    data_residency: DataResidency
    impact_assessments: dict[str, str] = Field(min_length=1)
    fairness: FairnessRules = FairnessRules()

    @model_validator(mode="after")
    def _check(self) -> _Document:
        for family, pipia in self.impact_assessments.items():
            if not pipia.strip():
                raise ValueError(f"impact_assessments.{family} must name an assessment id")
        return self


@dataclass(frozen=True)
class CompliancePack:
    """A validated pack, with its content hash (what a report names beside the version)."""

    jurisdiction: str
    version: str
    hash: str
    effective_from: date
    title: Bilingual
    rate_caps: dict[str, RateCap]
    lending: Lending
    disclosure: Disclosure
    data_residency: DataResidency
    impact_assessments: dict[str, str]
    fairness: FairnessRules

    def impact_assessment_of(self, family: str) -> str | None:
        """The PIPIA id of a model family, or None when the pack names none."""
        return self.impact_assessments.get(family)


def parse_pack(data: dict[str, Any]) -> CompliancePack:
    """Validate a parsed pack; errors name the field and the rule."""
    try:
        doc = _Document.model_validate(data)
    except ValidationError as exc:
        raise PackError(f"compliance pack: {describe(exc)}") from None
    return CompliancePack(
        jurisdiction=doc.jurisdiction,
        version=doc.version,
        hash=sha256_of(data),
        effective_from=doc.effective_from,
        title=doc.title,
        rate_caps=dict(doc.rate_caps),
        lending=doc.lending,
        disclosure=doc.disclosure,
        data_residency=doc.data_residency,
        impact_assessments=dict(doc.impact_assessments),
        fairness=doc.fairness,
    )
