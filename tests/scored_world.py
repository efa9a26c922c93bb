"""A small simulated world ready for decisions: ingested, models trained, the scorecard promoted
(with social data, and its variant without for applicants who withhold consent), the online
feature table built. Shared by the decision tests (each builds its own, module-scoped)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from creditgraph.settings import Settings

AS_OF = date(2026, 6, 30)


def scored_world(root: Path, people: int, seed: int) -> Settings:
    from creditgraph.features.service import build_and_store
    from creditgraph.ingest.service import ingest
    from creditgraph.scoring import registry
    from creditgraph.scoring.service import train_models
    from creditgraph.simulate import SimulationConfig, simulate
    from creditgraph.store.db import migrated_engine

    result = simulate(SimulationConfig(people=people, seed=seed), root / "world")
    settings = Settings(home=root / "home")
    ingest(sorted(result.files.values()), settings)
    trained = train_models(settings, AS_OF, actor="analyst-1", seed=0)
    with migrated_engine(settings.database_url) as db:
        registry.promote(db, trained.records["scorecard"].id, "risk-head")
        registry.promote(db, trained.no_social["scorecard"].id, "risk-head")
    build_and_store(settings, AS_OF, online=True)
    return settings
