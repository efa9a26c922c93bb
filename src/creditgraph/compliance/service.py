"""Running the compliance check: load the pack and the decision configuration in force, read
the champions, the privacy facts and fairness from the database when one is given, build the
report."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from creditgraph.compliance.check import ComplianceReport, run_check
from creditgraph.compliance.facts import database_host, read_facts
from creditgraph.compliance.fairness_store import assess_period, current_period
from creditgraph.compliance.pack import CompliancePack
from creditgraph.compliance.pack_files import DEFAULT_PACK, load_pack
from creditgraph.compliance.requirements import Context
from creditgraph.decision.config import DecisionConfig
from creditgraph.decision.config_files import load_config
from creditgraph.store.models import ModelVersion, table_of

MODELS = table_of(ModelVersion)


def read_champions(engine: Engine) -> dict[str, tuple[str, str | None]]:
    """Each champion model's id -> (family, the impact-assessment id it was registered with)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(MODELS.c.id, MODELS.c.family, MODELS.c.metrics).where(
                MODELS.c.status == "champion"
            )
        ).all()
    out: dict[str, tuple[str, str | None]] = {}
    for row in rows:
        recorded = (row.metrics or {}).get("impact_assessment_id")
        out[str(row.id)] = (str(row.family), None if recorded is None else str(recorded))
    return out


def compliance_check(
    *,
    pack: CompliancePack | None = None,
    pack_name: str = DEFAULT_PACK,
    pack_path: Path | None = None,
    config: DecisionConfig | None = None,
    config_path: Path | None = None,
    engine: Engine | None = None,
    period: str | None = None,
    database_url: str | None = None,
) -> ComplianceReport:
    """The report for the pack and configuration given (packaged defaults otherwise); with an
    engine, the champions' impact assessments, the database's privacy facts and the fairness of
    ``period``'s decisions. ``database_url`` names the host reported as residency evidence
    (never its credentials); the engine's own URL when not given."""
    chosen = pack or load_pack(pack_name, pack_path)
    in_force = config or load_config(config_path)
    champions = read_champions(engine) if engine is not None else None
    facts = read_facts(engine) if engine is not None else None
    if database_url is None and engine is not None:
        database_url = engine.url.render_as_string(hide_password=True)
    fairness = None
    chosen_period = None
    if engine is not None:
        chosen_period = period or current_period()
        fairness = assess_period(engine, chosen_period, chosen.fairness)
    return run_check(
        Context(chosen, in_force, champions, facts, database_host(database_url)),
        fairness=fairness,
        fairness_period=chosen_period,
    )
