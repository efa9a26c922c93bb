"""Export a registered model version to a folder, and load such a folder back to score with.

A scorecard is exported as its card JSON (the plain artifact ``model score-table`` reads); a
challenger as LightGBM's own model text, its calibrator and the rest of its state. A
``manifest.json`` names the version (id, family, variant, features, dates) and holds the SHA-256
of every file, checked on loading, so a changed file is refused rather than scored.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from creditgraph.scoring.card_codec import card_from_dict
from creditgraph.scoring.registry import ModelRecord

FORMAT = "creditgraph.model-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CARD, BOOSTER, CALIBRATOR, CHALLENGER = (
    "card.json",
    "model.txt",
    "calibrator.json",
    "challenger.json",
)


class ExportError(ValueError):
    """A folder that is not a complete, unchanged model export."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n")


def _features(record: ModelRecord) -> list[str]:
    """Both families' artifacts list their inputs under ``features``."""
    return [str(f) for f in record.artifact["features"]]


def export_model(record: ModelRecord, folder: Path) -> dict[str, Any]:
    """Write the version's files and manifest into ``folder`` (created); returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    files: list[str]
    if record.family == "scorecard":
        from creditgraph.scoring.card_file import save

        save(card_from_dict(record.artifact), folder / CARD)
        files = [CARD]
    else:
        artifact = dict(record.artifact)
        (folder / BOOSTER).write_text(str(artifact.pop("model")))
        _write_json(folder / CALIBRATOR, artifact.pop("calibration"))
        _write_json(folder / CHALLENGER, artifact)
        files = [BOOSTER, CALIBRATOR, CHALLENGER]
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_id": record.id,
        "family": record.family,
        "variant": record.variant,
        "as_of": record.as_of.isoformat(),
        "created_at": record.created_at.isoformat(),
        "feature_set_version": record.feature_set_version,
        "training_data_sha256": record.training_data_sha256,
        "features": _features(record),
        "files": {name: _sha256(folder / name) for name in files},
    }
    _write_json(folder / MANIFEST, manifest)
    return manifest


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: cannot read it ({exc})") from None


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, after checking every listed file's SHA-256."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ExportError(f"{folder}: no {MANIFEST}; not a model export")
    manifest = _read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{path}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ExportError(
            f"{path}: format_version {manifest.get('format_version')!r}; "
            f"this version reads {FORMAT_VERSION}"
        )
    for name, expected in dict(manifest.get("files", {})).items():
        file = folder / name
        if not file.is_file():
            raise ExportError(f"{file}: missing")
        if _sha256(file) != expected:
            raise ExportError(f"{file}: SHA-256 differs from the manifest; the file was changed")
    return manifest


def load_export(folder: Path) -> ModelRecord:
    """A registry-like record of an exported version, ready for ``LoadedModel``."""
    manifest = read_manifest(folder)
    family = manifest.get("family")
    if family == "scorecard":
        artifact = _read_json(folder / CARD)
    elif family == "challenger":
        artifact = dict(_read_json(folder / CHALLENGER))
        artifact["model"] = (folder / BOOSTER).read_text()
        artifact["calibration"] = _read_json(folder / CALIBRATOR)
    else:
        raise ExportError(f"{folder / MANIFEST}: unknown family {family!r}")
    return ModelRecord(
        id=str(manifest["model_id"]),
        family=str(family),
        variant=str(manifest["variant"]),
        as_of=date.fromisoformat(manifest["as_of"]),
        feature_set_version=str(manifest["feature_set_version"]),
        training_data_sha256=str(manifest["training_data_sha256"]),
        artifact=artifact,
        metrics={},
        status="exported",
        created_at=datetime.fromisoformat(manifest["created_at"]),
        created_by="",
        promoted_by=None,
        promoted_at=None,
        report_path=None,
    )
