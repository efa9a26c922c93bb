"""The compliance check: every requirement's value in the pack and in force, the code and test
behind it (verified to exist), and a status that says only what the check itself established.

- FAIL: a value in force breaches the pack (e.g. a rate cap above the licence's, a champion
  without its family's impact assessment, an erased person's key still stored), or a judged
  fairness group is below the four-fifths line.
- MISSING: no code enforces the requirement, or a cited function or test does not exist.
- PASS: the check compared a value in force (the decision configuration, the database's facts)
  with the pack and it holds.
- CITED: nothing was measured; the code and tests cited exist, and that is all the row shows.
- NOT ASSESSED: the check cannot see the value (fairness without decisions to judge, where the
  database is hosted, champions without a database).

A test that is not shipped (an installed package) is noted, not missing. The check is pure given
its inputs (pack, configuration, champions, database facts, fairness report); reading them is
the caller's (``compliance.service``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from creditgraph.compliance.fairness import FairnessReport
from creditgraph.compliance.references import Checked, check_code, check_test
from creditgraph.compliance.requirements import (
    REQUIREMENTS,
    Context,
    Measured,
    Outcome,
    Requirement,
)

Status = Literal["PASS", "FAIL", "MISSING", "CITED", "NOT ASSESSED"]
STATUSES: tuple[Status, ...] = ("PASS", "FAIL", "MISSING", "CITED", "NOT ASSESSED")
_BY_OUTCOME: dict[Outcome, Status] = {
    "holds": "PASS",
    "breached": "FAIL",
    "cited": "CITED",
    "not_assessed": "NOT ASSESSED",
}
CITED_ONLY = "the code and tests cited exist; this check does not measure it"


@dataclass(frozen=True, slots=True)
class Row:
    requirement: Requirement
    pack_value: str
    in_force: str
    code: tuple[Checked, ...]
    tests: tuple[Checked, ...]
    status: Status
    note: str


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    jurisdiction: str
    pack_version: str
    pack_hash: str
    effective_from: str
    config_version: str
    config_hash: str
    rows: tuple[Row, ...]
    fairness: FairnessReport | None
    fairness_period: str | None

    @property
    def fairness_failures(self) -> int:
        return len(self.fairness.failing) if self.fairness is not None else 0

    @property
    def counts(self) -> dict[str, int]:
        tally = Counter(row.status for row in self.rows)
        return {s: tally.get(s, 0) for s in STATUSES}

    @property
    def failed(self) -> bool:
        return self.counts["FAIL"] > 0


def evaluate(
    requirement: Requirement,
    ctx: Context,
    tests_root: Path | None = None,
    fairness: FairnessReport | None = None,
) -> Row:
    """One requirement's row: measured against the pack, its references checked."""
    code = tuple(check_code(ref) for ref in requirement.code)
    tests = tuple(check_test(ref, tests_root) for ref in requirement.tests)
    measured = _measure(requirement, ctx, fairness)
    notes: list[str] = []
    missing = [c for c in (*code, *tests) if c.status == "missing"]
    notes.extend(f"{c.ref}: {c.detail}" for c in missing)
    if not requirement.code:
        notes.append("no code enforces this yet")
    if not requirement.tests:
        notes.append("no test shows this yet")
    if any(t.status == "not_shipped" for t in tests):
        notes.append("test file not shipped")
    status: Status
    if measured.outcome == "breached":
        status = "FAIL"
    elif missing or not requirement.code or not requirement.tests:
        status = "MISSING"
    else:
        status = _BY_OUTCOME[measured.outcome]
    return Row(
        requirement,
        measured.pack_value,
        measured.in_force,
        code,
        tests,
        status,
        "; ".join(notes),
    )


def _measure(requirement: Requirement, ctx: Context, fairness: FairnessReport | None) -> Measured:
    """The requirement's own measure; fairness from the report when decisions were judged; a
    row with neither rests on its citations (CITED), never on a silent PASS."""
    if requirement.measure is not None:
        return requirement.measure(ctx)
    if requirement.area == "fairness":
        pack_value = f"ratio >= {ctx.pack.fairness.min_ratio}"
        if fairness is None:
            return Measured(pack_value, "not assessed: no database given", "not_assessed")
        if fairness.decisions == 0:
            return Measured(
                pack_value, "not assessed: no decisions made in the period", "not_assessed"
            )
        judged = any(g.status in ("pass", "fail") for a in fairness.attributes for g in a.groups)
        if not judged:
            return Measured(
                pack_value,
                f"not assessed: no group beside the reference is large enough to judge "
                f"in {fairness.decisions} decisions",
                "not_assessed",
            )
        in_force = (
            f"{len(fairness.failing)} group(s) below four fifths in {fairness.decisions} decisions"
        )
        return Measured(pack_value, in_force, "breached" if fairness.failing else "holds")
    return Measured("-", CITED_ONLY, "cited")


def run_check(
    ctx: Context,
    *,
    requirements: Sequence[Requirement] = REQUIREMENTS,
    fairness: FairnessReport | None = None,
    fairness_period: str | None = None,
    tests_root: Path | None = None,
) -> ComplianceReport:
    """The whole report for ``ctx``; ``fairness`` adds the section on decisions made."""
    rows = tuple(evaluate(r, ctx, tests_root, fairness) for r in requirements)
    return ComplianceReport(
        jurisdiction=ctx.pack.jurisdiction,
        pack_version=ctx.pack.version,
        pack_hash=ctx.pack.hash,
        effective_from=ctx.pack.effective_from.isoformat(),
        config_version=ctx.config.version,
        config_hash=ctx.config.hash,
        rows=rows,
        fairness=fairness,
        fairness_period=fairness_period,
    )


def _checked(items: Sequence[Checked]) -> list[dict[str, str]]:
    return [{"ref": c.ref, "status": c.status, "detail": c.detail} for c in items]


def fairness_json(report: FairnessReport) -> dict[str, Any]:
    return {
        "decisions": report.decisions,
        "min_ratio": str(report.min_ratio),
        "min_group_size": report.min_group_size,
        "attributes": [
            {
                "attribute": a.attribute,
                "reference_group": a.reference_group,
                "equal_opportunity_difference": a.equal_opportunity_difference,
                "labelled": a.labelled,
                "groups": [
                    {
                        "group": g.group,
                        "people": g.people,
                        "approved": g.approved,
                        "approval_rate": g.approval_rate,
                        "ratio": g.ratio,
                        "status": g.status,
                        "good_payers": g.good_payers,
                        "good_payer_approval_rate": g.good_payer_approval_rate,
                        "opportunity_gap": g.opportunity_gap,
                    }
                    for g in a.groups
                ],
            }
            for a in report.attributes
        ],
    }


def report_json(report: ComplianceReport) -> dict[str, Any]:
    """The report as plain JSON (``compliance check --json``)."""
    return {
        "pack": {
            "jurisdiction": report.jurisdiction,
            "version": report.pack_version,
            "hash": report.pack_hash,
            "effective_from": report.effective_from,
        },
        "config": {"version": report.config_version, "hash": report.config_hash},
        "requirements": [
            {
                "id": row.requirement.id,
                "area": row.requirement.area,
                "basis": row.requirement.basis,
                "rule": {"zh": row.requirement.zh, "en": row.requirement.en},
                "pack_value": row.pack_value,
                "in_force": row.in_force,
                "code": _checked(row.code),
                "tests": _checked(row.tests),
                "status": row.status,
                "note": row.note,
            }
            for row in report.rows
        ],
        "fairness": None
        if report.fairness is None
        else {"period": report.fairness_period, **fairness_json(report.fairness)},
        "summary": report.counts,
    }
