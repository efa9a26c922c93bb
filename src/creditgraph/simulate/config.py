"""The simulator's knobs and what a run hands back.

Every choice that changes the generated world is a field here, so a run is reproduced by its config
alone (the seed included) and two runs differ only where their configs differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

TableFormat = Literal["parquet", "csv"]
FORMATS: tuple[TableFormat, ...] = ("parquet", "csv")

# Where ground truth goes inside the output directory: a folder, so that ``<out>/*`` globs match
# only contract tables (the ingest command skips directories).
TRUTH_DIR = "_truth"
TRUTH_FILE = "ground_truth.parquet"
BAD_ROWS_FILE = "bad_rows.parquet"


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of one synthetic world; validated on construction so errors surface early."""

    people: int
    seed: int
    default_rate: float = 0.08
    fraud_share: float = 0.0075
    end_date: date = date(2026, 6, 30)
    # Months of social history before the first loan application. The world then runs on through
    # the application window (``cohort_months``: long enough that early loans' outcomes are known
    # when later people apply) and the last loan's 12-month outcome window up to ``end_date``.
    months: int = 12
    cohort_months: int = 24
    # activity_daily covers only the last ``activity_days`` days (volume stays bounded) and, when
    # ``application_activity_days`` > 0, that many days before each historical application too.
    activity_days: int = 30
    application_activity_days: int = 0
    borrower_share: float = 0.6
    with_bad_rows: bool = False
    bad_row_share: float = 0.005
    fmt: TableFormat = "parquet"
    chunk_rows: int = 1_000_000

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ValueError("invalid simulation config: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        out: list[str] = []
        if self.people < 50:
            out.append(f"people must be at least 50 (got {self.people})")
        if self.people > 50_000_000:
            out.append(f"people must be at most 50,000,000 (got {self.people})")
        if not 0.0 <= self.seed < 2**63:
            out.append("seed must be a non-negative 64-bit integer")
        if not 0.005 <= self.default_rate <= 0.5:
            out.append(f"default_rate must be within [0.005, 0.5] (got {self.default_rate})")
        if not 0.0 <= self.fraud_share <= 0.05:
            out.append(f"fraud_share must be within [0, 0.05] (got {self.fraud_share})")
        if self.fraud_share * 0.95 >= self.default_rate * self.borrower_share:
            out.append(
                "fraud_share is too large for the default rate (fraud rings default on purpose)"
            )
        if not 1 <= self.months <= 120:
            out.append(f"months must be within [1, 120] (got {self.months})")
        if not 1 <= self.cohort_months <= 60:
            out.append(f"cohort_months must be within [1, 60] (got {self.cohort_months})")
        # at most a year, so the recent window never overlaps the pre-application windows
        if not 1 <= self.activity_days <= 365:
            out.append(f"activity_days must be within [1, 365] (got {self.activity_days})")
        if not 0 <= self.application_activity_days <= 365:
            out.append("application_activity_days must be within [0, 365]")
        if not 0.05 <= self.borrower_share <= 1.0:
            out.append(f"borrower_share must be within [0.05, 1] (got {self.borrower_share})")
        if not 0.0 < self.bad_row_share <= 0.2:
            out.append(f"bad_row_share must be within (0, 0.2] (got {self.bad_row_share})")
        if self.fmt not in FORMATS:
            out.append(f"fmt must be one of {', '.join(FORMATS)} (got {self.fmt!r})")
        if self.chunk_rows < 10_000:
            out.append("chunk_rows must be at least 10,000")
        if not 2000 <= self.end_date.year <= 2100:
            out.append("end_date must be within the years 2000-2100")
        return out


@dataclass(frozen=True)
class SimulationResult:
    """Where a run wrote its tables, how many rows each holds, and how long it took."""

    out_dir: Path
    files: dict[str, Path]
    rows: dict[str, int]
    truth_path: Path
    seconds: float
    bad_rows: dict[str, int] = field(default_factory=dict)
    bad_rows_path: Path | None = None
