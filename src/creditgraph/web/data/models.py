"""What the models pages read: the registry by family and variant, each version's headline
metrics, and where its validation report file is.

A report is the training's self-contained HTML file under the home's ``reports`` folder; the
stored path is trusted only when it names a file there (a copied home keeps its old absolute
paths), so the page never serves an arbitrary file named in the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from creditgraph.scoring import registry
from creditgraph.scoring.registry import ModelRecord

SAMPLES = ("development", "test", "out_of_time", "refit")


def listing(engine: Engine) -> list[dict[str, Any]]:
    """Families, each with its versions newest first (champion and challenger marked)."""
    groups: dict[tuple[str, str], list[ModelRecord]] = {}
    for record in registry.list_models(engine):
        groups.setdefault((record.family, record.variant), []).append(record)
    return [
        {"family": family, "variant": variant, "versions": [summary(r) for r in records]}
        for (family, variant), records in sorted(groups.items())
    ]


def role_of(record: ModelRecord) -> str:
    """champion, challenger (a candidate of a family that is not the champion's), or retired."""
    if record.status == registry.CHAMPION:
        return "champion"
    if record.status == registry.CANDIDATE:
        return "challenger"
    return record.status


def summary(record: ModelRecord) -> dict[str, Any]:
    metrics = record.metrics or {}
    samples = {
        name: metrics[name]
        for name in SAMPLES
        if isinstance(metrics.get(name), dict) and "auc" in metrics[name]
    }
    return {
        "id": record.id,
        "family": record.family,
        "variant": record.variant,
        "status": record.status,
        "role": role_of(record),
        "as_of": record.as_of,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "promoted_at": record.promoted_at,
        "promoted_by": record.promoted_by,
        "feature_set_version": record.feature_set_version,
        "training_data_sha256": record.training_data_sha256,
        "samples": samples,
        "deployed": metrics.get("deployed"),
        "lift": {
            k: metrics[k]
            for k in ("network_lift_test", "network_lift_out_of_time")
            if isinstance(metrics.get(k), dict)
        },
        "windows": metrics.get("windows") if isinstance(metrics.get("windows"), dict) else {},
    }


def find(engine: Engine, model_id: str) -> ModelRecord | None:
    try:
        return registry.get(engine, model_id)
    except registry.RegistryError:
        return None


def report_file(record: ModelRecord, home: Path) -> Path | None:
    """The version's report under ``home/reports``, if it is there."""
    folder = (home / "reports").resolve()
    candidates = [folder / f"{record.id}.html"]
    if record.report_path:
        candidates.insert(0, Path(record.report_path))
    for path in candidates:
        try:
            resolved = path.resolve()
        except OSError:
            continue
        if resolved.parent == folder and resolved.is_file():
            return resolved
    return None
