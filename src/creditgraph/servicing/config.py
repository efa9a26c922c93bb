"""Servicing parameters: allocation order, penalty multiplier, NPA and write-off DPD, and the
overpayment tolerance.

Validated from parsed TOML with errors that name the field, per-product overrides merged over
the defaults. No file I/O here: ``servicing.config_file`` reads ``decision/catalogue/servicing.toml``
(or an operator's file), so pure servicing code can import the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import Field, ValidationError, field_validator

from creditgraph.canonical import sha256_of
from creditgraph.configmodel import ConfigDecimal, FrozenConfig, describe
from creditgraph.servicing.allocation import AllocationBy, AllocationRule, validate_order


class ServicingConfigError(ValueError):
    """A servicing configuration that cannot be used; the message names the field."""


class ServicingParams(FrozenConfig):
    """The servicing parameters in force for one product."""

    allocation_order: tuple[str, ...] = ("penalty", "fee", "interest", "principal")
    allocation_by: AllocationBy = AllocationBy.INSTALMENT
    penalty_multiplier: ConfigDecimal = Field(default=Decimal("1.5"), ge=1, le=10)
    write_off_dpd: int = Field(default=180, ge=1, le=3650)
    npa_dpd: int = Field(default=90, ge=1, le=3650)
    # Yuan a payment may exceed what would settle the loan that day (see servicing/ceiling.py).
    overpayment_tolerance: ConfigDecimal = Field(default=Decimal("1.00"), ge=0, le=10_000)

    @field_validator("allocation_order")
    @classmethod
    def _order(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(c.value for c in validate_order(value))

    @field_validator("overpayment_tolerance")
    @classmethod
    def _whole_fen(cls, value: Decimal) -> Decimal:
        if value != value.quantize(Decimal("0.01")):
            raise ValueError("overpayment_tolerance must be whole fen (at most 2 decimals)")
        return value.quantize(Decimal("0.01"))

    @property
    def allocation(self) -> AllocationRule:
        return AllocationRule(validate_order(self.allocation_order), self.allocation_by)


@dataclass(frozen=True)
class ServicingConfig:
    version: str
    hash: str
    defaults: ServicingParams = field(default_factory=ServicingParams)
    products: dict[str, ServicingParams] = field(default_factory=dict)

    def for_product(self, code: str) -> ServicingParams:
        return self.products.get(code, self.defaults)


def parse_servicing_config(data: dict[str, Any]) -> ServicingConfig:
    """Validate parsed TOML; overrides are merged over the defaults and validated as a whole."""
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise ServicingConfigError("servicing config: version must be a non-empty string")
    unknown = sorted(set(data) - {"version", "defaults", "products"})
    if unknown:
        raise ServicingConfigError(f"servicing config: unknown sections {unknown}")
    raw_defaults = data.get("defaults", {})
    try:
        defaults = ServicingParams.model_validate(raw_defaults)
    except ValidationError as exc:
        raise ServicingConfigError(f"servicing config defaults: {describe(exc)}") from None
    products: dict[str, ServicingParams] = {}
    for code, override in dict(data.get("products", {})).items():
        if not isinstance(override, dict):
            raise ServicingConfigError(f"servicing config products.{code}: must be a table")
        try:
            products[code] = ServicingParams.model_validate({**raw_defaults, **override})
        except ValidationError as exc:
            raise ServicingConfigError(
                f"servicing config products.{code}: {describe(exc)}"
            ) from None
    return ServicingConfig(version, sha256_of(data), defaults, products)
