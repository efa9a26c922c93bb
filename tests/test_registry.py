"""The model registry on both databases: register, list, promote (one champion), audit, compare."""

from __future__ import annotations

from datetime import date

import pytest

from creditgraph.scoring import registry
from creditgraph.store.db import make_engine, upgrade


def _register(
    engine: object, auc: float, family: str = "scorecard", variant: str = registry.SOCIAL
) -> registry.ModelRecord:
    return registry.register(
        engine,  # type: ignore[arg-type]
        family=family,
        as_of=date(2026, 6, 30),
        feature_set_version="1",
        training_data_sha256="a" * 64,
        artifact={"auc": auc},
        metrics={"test": {"auc": auc}, "rows": 100},
        actor="analyst-1",
        variant=variant,
    )


def test_promote_keeps_exactly_one_champion_and_audits_every_step(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with pytest.raises(registry.RegistryError, match="no champion"):
            registry.champion(engine)
        first, second = _register(engine, 0.70), _register(engine, 0.75, "challenger")
        assert {m.id for m in registry.list_models(engine)} >= {first.id, second.id}
        assert first.status == "candidate"
        registry.promote(engine, first.id, "risk-head")
        assert registry.champion(engine).id == first.id
        promoted = registry.promote(engine, second.id, "risk-head", note="better AUC")
        assert promoted.status == "champion" and promoted.promoted_by == "risk-head"
        assert promoted.promoted_at is not None
        assert registry.champion(engine).id == second.id
        assert registry.get(engine, first.id).status == "retired"
        champions = [m for m in registry.list_models(engine) if m.status == "champion"]
        assert [m.id for m in champions] == [second.id]
        trail = [(e["model_id"], e["event"]) for e in registry.events(engine)]
        assert trail[-3:] == [
            (first.id, "promoted"),
            (first.id, "retired"),
            (second.id, "promoted"),
        ]
        assert (first.id, "registered") in trail and (second.id, "registered") in trail
        again = registry.promote(engine, second.id, "someone-else")
        assert again.promoted_by == "risk-head"  # promoting the champion changes nothing
    finally:
        engine.dispose()


def test_each_variant_has_its_own_champion(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        social = _register(engine, 0.75)
        private = _register(engine, 0.70, variant=registry.NO_SOCIAL)
        later = _register(engine, 0.71, "challenger", variant=registry.NO_SOCIAL)
        assert private.variant == "no_social" and "nosocial" in private.id
        with pytest.raises(registry.RegistryError, match="variant no_social"):
            registry.champion(engine, registry.NO_SOCIAL)
        registry.promote(engine, social.id, "risk-head")
        registry.promote(engine, private.id, "risk-head")
        assert registry.champion(engine).id == social.id
        assert registry.champion(engine, registry.NO_SOCIAL).id == private.id
        registry.promote(engine, later.id, "risk-head")  # retires only its own variant's champion
        assert registry.champion(engine).id == social.id
        assert registry.champion(engine, registry.NO_SOCIAL).id == later.id
        assert registry.get(engine, private.id).status == "retired"
        with pytest.raises(registry.RegistryError, match="unknown model variant"):
            registry.champion(engine, "partial")
    finally:
        engine.dispose()


def test_unknown_versions_and_families_are_clear_errors(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/r.db")
    upgrade(engine)
    with pytest.raises(registry.RegistryError, match="no model version 'nope'"):
        registry.promote(engine, "nope", "x")
    with pytest.raises(registry.RegistryError, match="no model version"):
        registry.get(engine, "nope")
    with pytest.raises(registry.RegistryError, match="unknown model family"):
        _register(engine, 0.7, family="neural")
    engine.dispose()


def test_compare_lists_every_metric_with_the_difference(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/r.db")
    upgrade(engine)
    a, b = _register(engine, 0.70), _register(engine, 0.76)
    rows = {name: (left, right, diff) for name, left, right, diff in registry.compare(a, b)}
    assert rows["test.auc"][0] == 0.70 and rows["test.auc"][1] == 0.76
    assert rows["test.auc"][2] == pytest.approx(0.06)
    assert rows["rows"] == (100, 100, 0.0)
    engine.dispose()
