"""The detectors' thresholds as a validated, immutable configuration.

Every threshold trades missed risk against false alerts; ``docs/monitoring.md`` says, for each,
what raising or lowering it costs. Ratios and fractions are exact decimals written as quoted
strings in the TOML (a float is refused, as in every creditgraph configuration). The defaults
here equal the packaged ``monitoring.toml``; ``config_file`` reads an operator's file.

Pure: reading the file is ``config_file``'s job.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, ValidationError, model_validator

from creditgraph.configmodel import ConfigDecimal, FrozenConfig, describe

DPD_BUCKET_NAMES = ("M0", "M1", "M2", "M3", "M3+")


class MonitoringConfigError(ValueError):
    """The monitoring configuration is missing, unreadable or invalid."""


class ContagionConfig(FrozenConfig):
    """A strong tie becomes delinquent: flag the active borrowers whose exposure rose most."""

    delinquent_from_bucket: str = "M2"
    """The DPD bucket from which a borrower counts as delinquent (M2 = 31 or more days past due)."""
    fraud_event_types: tuple[str, ...] = ()
    """Event types that mark a person as a confirmed fraudster, a trigger like a default (the
    event contract v1 has none yet: a confirmed-fraud event type is named here when added)."""
    min_tie_strength: ConfigDecimal = Field(default=Decimal("0.5"), ge=0)
    """A tie at least this strong (the graph's tie weight) counts as strong."""
    min_exposure_increase: ConfigDecimal = Field(default=Decimal("0.001"), ge=0)
    """The least rise in exposure to known defaulters worth an alert."""
    max_flagged: int = Field(default=20, ge=1)
    """At most this many neighbours are flagged per trigger, the largest rises first."""
    high_increase: ConfigDecimal = Field(default=Decimal("0.01"), ge=0)
    """A rise at least this large is a high-severity alert; below it, medium."""

    @model_validator(mode="after")
    def _known_bucket(self) -> ContagionConfig:
        if self.delinquent_from_bucket not in DPD_BUCKET_NAMES:
            raise ValueError(f"delinquent_from_bucket must be one of {', '.join(DPD_BUCKET_NAMES)}")
        return self


class ActivityCollapseConfig(FrozenConfig):
    """Activity or interactions far below the person's own baseline, mass tie removal, and a
    sudden stop of incoming transfers."""

    min_baseline_days: int = Field(default=28, ge=1, le=90)
    """Days of history before the recent week needed before a person is compared with it."""
    activity_ratio: ConfigDecimal = Field(default=Decimal("0.3"), ge=0, le=1)
    """Fire when active days this week are below this fraction of the baseline's weekly mean."""
    min_weekly_active_days: ConfigDecimal = Field(default=Decimal("3"), ge=0)
    """...and the baseline's weekly mean of active days is at least this."""
    interactions_ratio: ConfigDecimal = Field(default=Decimal("0.25"), ge=0, le=1)
    """Fire when interactions this week are below this fraction of the baseline's weekly mean."""
    min_weekly_interactions: ConfigDecimal = Field(default=Decimal("20"), ge=0)
    """...and the baseline's weekly mean of interactions is at least this."""
    ties_ended_min: int = Field(default=5, ge=1)
    """Mass tie removal: at least this many ties ended in the last 7 days..."""
    ties_ended_over_baseline: ConfigDecimal = Field(default=Decimal("3"), ge=1)
    """...and at least this many times the baseline's weekly mean of ended ties (or of 1)."""
    transfer_silence_days: int = Field(default=45, ge=7, le=97)
    """A sudden stop: no incoming transfer for this many days..."""
    min_baseline_transfers_fen: int = Field(default=300_000, ge=1)
    """...after at least this much (fen) came in over the baseline."""


class MultiLendingConfig(FrozenConfig):
    """New loans or credit inquiries elsewhere in 30 or 90 days."""

    loans_30d: int = Field(default=2, ge=1)
    loans_90d: int = Field(default=3, ge=1)
    inquiries_30d: int = Field(default=4, ge=1)
    inquiries_90d: int = Field(default=8, ge=1)
    high_multiple: int = Field(default=2, ge=1)
    """A count at least this multiple of its threshold is a high-severity alert."""


class RepaymentStressConfig(FrozenConfig):
    """Missed or partial instalments, bucket transitions and early-warning signs."""

    missed_high_30d: int = Field(default=2, ge=1)
    """This many missed instalments in 30 days makes a missed instalment high severity."""
    partial_min_30d: int = Field(default=1, ge=1)
    """A partial repayment alerts when the person has at least this many in 30 days."""
    income_drop_ratio: ConfigDecimal = Field(default=Decimal("0.5"), ge=0, le=1)
    """Early warning: income and transfers in over 30 days below this fraction of the baseline's..."""
    min_baseline_income_fen_30d: int = Field(default=200_000, ge=1)
    """...when the baseline's 30-day equivalent is at least this (fen)."""
    min_baseline_days: int = Field(default=28, ge=1, le=90)
    """Days of history the income comparison needs."""
    stress_window_days: int = Field(default=90)
    """New debt elsewhere is an early warning when a missed instalment falls in this window."""

    @model_validator(mode="after")
    def _known_window(self) -> RepaymentStressConfig:
        if self.stress_window_days not in (7, 30, 90):
            raise ValueError("stress_window_days must be 7, 30 or 90")
        return self


class FraudRingConfig(FrozenConfig):
    """Dense blocks of recent applicants sharing devices and phones (``monitoring.rings``)."""

    window_days: int = Field(default=30, ge=1, le=365)
    """Person -> device/phone edges last seen this long ago leave the graph (the sliding window)."""
    weighting: str = "average"
    """``average`` (every edge weighs 1: density is edges per node) or ``fraudar`` (an edge into a
    popular object weighs ``1 / log(d + 5)``, which resists camouflage edges to popular objects
    but rates a ring around one handset like a family around one)."""
    shared_objects_only: bool = True
    """Only devices and phones seen with two or more people enter the graph."""
    min_density: ConfigDecimal = Decimal("0.85")
    """The least density (edge weight per node, persons and objects) of a block that alerts."""
    min_persons: int = Field(default=5, ge=2)
    """Fewer persons than this sharing objects is a household, not a ring."""
    max_persons: int = Field(default=60, ge=2)
    """A block larger than this is a shared place (an office network), not a ring."""
    max_blocks: int = Field(default=20, ge=1)
    """Blocks the daily sweep peels off one after another."""
    high_density: ConfigDecimal = Decimal("1.5")
    """A block at least this dense is high severity."""

    @model_validator(mode="after")
    def _known_weighting(self) -> FraudRingConfig:
        if self.weighting not in ("fraudar", "average"):
            raise ValueError("weighting must be 'fraudar' or 'average'")
        if self.max_persons < self.min_persons:
            raise ValueError("max_persons must be at least min_persons")
        return self


class MonitoringConfig(FrozenConfig):
    """All five detectors' thresholds."""

    version: str = "1"
    contagion: ContagionConfig = ContagionConfig()
    activity_collapse: ActivityCollapseConfig = ActivityCollapseConfig()
    fraud_ring: FraudRingConfig = FraudRingConfig()
    multi_lending: MultiLendingConfig = MultiLendingConfig()
    repayment_stress: RepaymentStressConfig = RepaymentStressConfig()


def parse_monitoring_config(raw: dict[str, Any]) -> MonitoringConfig:
    """A configuration from a parsed TOML document; an invalid one raises with its field path."""
    try:
        return MonitoringConfig.model_validate(raw)
    except ValidationError as exc:
        raise MonitoringConfigError(f"invalid monitoring configuration: {describe(exc)}") from None
