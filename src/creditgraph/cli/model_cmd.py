"""``creditgraph model``: scorecards on any table, and the model registry (train, list, promote,
compare, report).

``fit-table`` fits the monotone scorecard on a CSV or Parquet file, prints the IV and bin
tables and writes the JSON artifact; ``score-table`` applies an artifact to a file and writes
one row per input row, in input order. The commands only translate: files become tables, the
scoring package does the work. Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from creditgraph.console.display import print_table
from creditgraph.console.training import auc_text, no_social_table, training_table

if TYPE_CHECKING:
    import pyarrow as pa

    from creditgraph.scoring.card import Card
    from creditgraph.scoring.scorer import BatchScores

console = Console()
err = Console(stderr=True)
model_app = typer.Typer(
    help="Scoring models: scorecards on any table; train, register, promote and compare.",
    no_args_is_help=True,
)

GOOD_BAD = {"good": 0, "bad": 1}


class InputError(ValueError):
    """A file or option the command cannot use."""


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def read_table(path: Path) -> pa.Table:
    """A CSV (optionally .gz) or Parquet file as a pyarrow Table; empty text cells are nulls."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pq.read_table(path)
        if name.endswith((".csv", ".csv.gz", ".txt", ".tsv", ".data")):
            options = pacsv.ConvertOptions(strings_can_be_null=True)
            parse = pacsv.ParseOptions(delimiter="\t" if name.endswith(".tsv") else ",")
            return pacsv.read_csv(path, parse_options=parse, convert_options=options)
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot read it ({first})") from None
    raise InputError(f"{path}: unknown file type; use .csv, .csv.gz, .tsv or .parquet")


def _split_names(values: Sequence[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def target_vector(table: pa.Table, column: str, bad_value: str | None) -> tuple[Any, Any, str]:
    """(y with 1 for bad, mask of rows with a target, the bad value as text)."""
    import numpy as np

    from creditgraph.scoring.coercion import category_text

    if column not in table.column_names:
        raise InputError(f"target column {column!r} is not in the table")
    texts = [category_text(v) for v in table.column(column).to_pylist()]
    known = np.array([t is not None for t in texts])
    values = sorted({t for t in texts if t is not None})
    if len(values) != 2:
        shown = ", ".join(values[:5]) + (" ..." if len(values) > 5 else "")
        raise InputError(
            f"target column {column!r} must have exactly two values; it has {len(values)}"
            + (f" ({shown})" if values else "")
        )
    if bad_value is None:
        lowered = {v.lower() for v in values}
        if set(values) == {"0", "1"}:
            bad = "1"
        elif lowered == set(GOOD_BAD):
            bad = next(v for v in values if v.lower() == "bad")
        else:
            raise InputError(
                f"target column {column!r} has values {values[0]!r} and {values[1]!r}; "
                "say which one is bad with --bad-value"
            )
    else:
        bad = category_text(_number_or_text(bad_value)) or ""
        if bad not in values:
            raise InputError(
                f"--bad-value {bad_value!r} is not a value of {column!r} "
                f"({values[0]!r} or {values[1]!r})"
            )
    y = np.array([t == bad for t in texts], dtype=np.int_)
    return y, known, bad


def _number_or_text(text: str) -> object:
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _print_wide(table: Table) -> None:
    """Never squeeze names into ellipses: print at least as wide as the table needs."""
    print_table(console, table)


def _print_iv(card: Card) -> None:
    rows = sorted(card.training.get("variables", []), key=lambda r: -float(r["iv"]))
    table = Table(title="Information value", box=box.SIMPLE_HEAD)
    for name, justify in (
        ("variable", "left"),
        ("type", "left"),
        ("IV", "right"),
        ("bins", "right"),
        ("in card", "center"),
        ("note", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            escape(str(r["variable"])),
            str(r["type"]),
            f"{float(r['iv']):.4f}",
            str(r["bins"]),
            "yes" if r["selected"] else "-",
            escape(str(r["note"])),
        )
    _print_wide(table)


def _print_bins(card: Card) -> None:
    for v in card.variables:
        title = (
            f"{escape(v.name)}  ({v.kind}, {v.trend}; IV {v.iv:.4f}; coefficient "
            f"{v.coefficient:.4f})"
        )
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        for name in ("bin", "count", "count %", "bad rate", "WoE", "points"):
            table.add_column(name, justify="left" if name == "bin" else "right")
        total = sum(b.count for b in v.bins) or 1
        for b in v.bins:
            label = b.label + ("  (no data: worst bin)" if b.fallback else "")
            table.add_row(
                escape(label),
                f"{b.count:,}",
                f"{100 * b.count / total:.1f}",
                "-" if b.event_rate is None else f"{b.event_rate:.3f}",
                f"{b.woe:.4f}",
                f"{b.points:.2f}",
            )
        _print_wide(table)


@model_app.command("fit-table")
def fit_table(
    data: Path = typer.Argument(..., help="A CSV or Parquet table, one row per applicant."),
    target: str = typer.Option(..., "--target", metavar="COL", help="The outcome column."),
    bad_value: str | None = typer.Option(
        None,
        "--bad-value",
        metavar="V",
        help="The target value that means bad (default: 1 of 0/1, or 'bad' of good/bad).",
    ),
    exclude: list[str] = typer.Option(
        [], "--exclude", metavar="COLS", help="Columns to leave out, comma-separated."
    ),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed for cross-validation folds."),
    cv_folds: int = typer.Option(
        5,
        "--cv",
        metavar="K",
        help="Folds of the cross-validated AUC, every fold refitted from scratch (0: skip it).",
    ),
    out: Path = typer.Option(..., "--out", metavar="CARD.json", help="Where to write the card."),
) -> None:
    """Fit a monotone scorecard on a table; print IV and bin tables; write the JSON artifact."""
    from creditgraph.scoring.card import Card
    from creditgraph.scoring.card_file import save
    from creditgraph.scoring.cv import refitted_cv_auc
    from creditgraph.scoring.scorecard import Scorecard, ScorecardError
    from creditgraph.scoring.table_types import infer_types

    try:
        if cv_folds == 1 or cv_folds < 0:
            raise InputError(f"--cv {cv_folds}: use 0 (no cross-validation) or at least 2 folds")
        raw = read_table(data)
        typed = infer_types(raw, skip=[target])
        table = typed.table
        _warn_types(data, typed)
        y, known, bad = target_vector(table, target, bad_value)
        excluded = _split_names(exclude)
        unknown = [c for c in excluded if c not in table.column_names]
        if unknown:
            raise InputError(f"--exclude names columns not in the table: {', '.join(unknown)}")
        features = [c for c in table.column_names if c != target and c not in excluded]
        if not features:
            raise InputError("no feature columns are left to fit on")
        frame = table.select(features).to_pandas()
        dropped = int((~known).sum())
        frame, y = frame[known].reset_index(drop=True), y[known]
        with console.status(f"fitting on {len(frame):,} rows and {len(features)} columns…"):
            model = Scorecard(random_state=seed).fit(frame, y)
        _warn_dropped(model.iv_table_)
        card = model.card_
        training = dict(card.training)
        if cv_folds:
            with console.status(f"cross-validating: refitting in each of {cv_folds} folds…"):
                cv = refitted_cv_auc(
                    Scorecard(random_state=seed), frame, y, folds=cv_folds, random_state=seed
                )
            training["cv_auc"] = cv.auc
            training["cv"] = cv.to_json()
        training["source"] = {
            "file": data.name,
            "sha256": _sha256(data),
            "rows": raw.num_rows,
            "rows_without_target": dropped,
            "header_rows_removed": list(typed.header_rows),
            "non_numeric_cells": {
                o.column: {"count": o.count, "first_rows": list(o.rows)} for o in typed.odd
            },
        }
        training["target"] = {"column": target, "bad_value": bad}
        card = Card(**{**card.__dict__, "training": training})
        out.parent.mkdir(parents=True, exist_ok=True)
        save(card, out)
    except (InputError, ScorecardError, OSError) as exc:
        raise _fail(str(exc)) from None
    _print_iv(card)
    _print_bins(card)
    cv_auc = training.get("cv_auc")
    cv_text = (
        f", cross-validated AUC {cv_auc:.4f} ± {training['cv']['fold_std']:.4f} "
        f"({cv_folds} folds, binning refitted in each)"
        if cv_auc is not None
        else ""
    )
    console.print(
        f"{len(frame):,} rows ({int(y.sum()):,} bad, {100 * y.mean():.1f}%)"
        + (f", {dropped:,} without a target left out" if dropped else "")
        + f"; {len(card.variables)} of {len(features)} columns in the card; "
        + f"C {training['C']:g}"
        + cv_text
        + f", training AUC {training['train_auc']:.4f}",
        highlight=False,
    )
    console.print(f"wrote {out}", highlight=False, markup=False)


def _warn(message: str) -> None:
    err.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)


def _warn_types(path: Path, typed: Any) -> None:
    """Say what type inference set aside: repeated header rows and odd cells of numeric columns."""
    rows = typed.header_rows
    if rows:
        shown = ", ".join(str(r) for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
        verb = (
            "row repeats the header line and is"
            if len(rows) == 1
            else "rows repeat the header line and are"
        )
        _warn(f"{path.name}: {len(rows):,} {verb} left out (row {shown})")
    for odd in typed.odd:
        _warn(f"{path.name}: {odd.describe()}")


def _warn_dropped(iv_table: list[dict[str, Any]]) -> None:
    for row in iv_table:
        if str(row["note"]).startswith("nearly unique"):
            _warn(f"column {row['variable']!r}: {row['note']}")


def scores_table(scores: BatchScores, ids: Any = None, id_name: str = "id") -> pa.Table:
    """The output rows: row number, optional id, score, PD, grade, four reasons in zh and en."""
    import numpy as np
    import pyarrow as pa

    n = len(scores)
    columns: dict[str, Any] = {"row": pa.array(np.arange(1, n + 1, dtype=np.int64))}
    if ids is not None:
        columns[id_name] = ids
    columns |= {
        "score": pa.array(scores.score),
        "pd": pa.array(scores.pd),
        "grade": pa.array(scores.grade.astype(object)),
    }
    codes, zh, en = scores.reason_codes(), scores.reason_texts("zh"), scores.reason_texts("en")
    for k in range(codes.shape[1]):
        columns[f"reason_{k + 1}_code"] = pa.array(codes[:, k], type=pa.string())
        columns[f"reason_{k + 1}_zh"] = pa.array(zh[:, k], type=pa.string())
        columns[f"reason_{k + 1}_en"] = pa.array(en[:, k], type=pa.string())
    return pa.table(columns)


def scored_rows_table(scored: Any, ids: Any = None, id_name: str = "id") -> pa.Table:
    """``scores_table``'s columns from any model's scores (a challenger's ``ScoredRows``)."""
    import numpy as np
    import pyarrow as pa

    n = len(scored.grade)
    columns: dict[str, Any] = {"row": pa.array(np.arange(1, n + 1, dtype=np.int64))}
    if ids is not None:
        columns[id_name] = ids
    columns |= {
        "score": pa.array(scored.score),
        "pd": pa.array(scored.pd),
        "grade": pa.array(scored.grade, pa.string()),
    }
    for k in range(4):
        for part in ("code", "zh", "en"):
            columns[f"reason_{k + 1}_{part}"] = pa.array(
                [r[k][part] if len(r) > k else None for r in scored.reasons], pa.string()
            )
    return pa.table(columns)


@model_app.command("score-table")
def score_table(
    card_path: Path = typer.Argument(
        ...,
        metavar="MODEL",
        help="A scorecard card JSON, or a folder written by `model export` (any family).",
    ),
    data: Path = typer.Argument(..., help="A CSV or Parquet table with the card's columns."),
    out: Path = typer.Option(..., "--out", metavar="SCORES.csv", help="Where to write scores."),
    id_column: str | None = typer.Option(
        None, "--id", metavar="COL", help="Copy this column into the output beside the row number."
    ),
) -> None:
    """Score every row of a table with a scorecard card or an exported model (scorecard or
    challenger): score, PD, grade and reasons, in input order."""
    from creditgraph.console.display import write_table
    from creditgraph.scoring.card_codec import ArtifactError
    from creditgraph.scoring.challenger import MissingFeatureError
    from creditgraph.scoring.coercion import ScoringInputError
    from creditgraph.scoring.export import ExportError

    try:
        if not card_path.exists():
            raise InputError(f"{card_path}: no such file or folder")
        table = read_table(data)
        if id_column is not None and id_column not in table.column_names:
            raise InputError(f"--id column {id_column!r} is not in the table")
        ids = None if id_column is None else table.column(id_column)
        result = _score_any(card_path, table, ids, id_column or "id")
        if out.name.lower().endswith((".parquet", ".pq")):
            write_table(result, out)
        else:
            import pyarrow.csv as pacsv

            out.parent.mkdir(parents=True, exist_ok=True)
            pacsv.write_csv(result, out)
    except (
        InputError,
        ArtifactError,
        ScoringInputError,
        ExportError,
        MissingFeatureError,
        OSError,
    ) as exc:
        raise _fail(str(exc)) from None
    scores = result.column("score").to_numpy()
    grades: dict[str, int] = {}
    for grade in sorted(result.column("grade").to_pylist()):
        grades[grade] = grades.get(grade, 0) + 1
    mean = float(scores.mean()) if len(scores) else float("nan")
    console.print(
        f"{len(scores):,} rows scored; mean score {mean:.1f}; grades "
        + ", ".join(f"{g} {n:,}" for g, n in grades.items()),
        highlight=False,
    )
    console.print(f"wrote {out}", highlight=False, markup=False)


def _score_any(path: Path, table: pa.Table, ids: Any, id_name: str) -> pa.Table:
    """A card JSON through the card's scorer; an export folder through its family's model."""
    from creditgraph.scoring.card_file import load_scorer

    if path.is_file():
        return scores_table(load_scorer(path).score_batch(table), ids, id_name)
    from creditgraph.scoring.export import CARD, load_export
    from creditgraph.scoring.models import LoadedModel

    record = load_export(path)
    if record.family == "scorecard":
        return scores_table(load_scorer(path / CARD).score_batch(table), ids, id_name)
    return scored_rows_table(LoadedModel(record).score_table(table), ids, id_name)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")


# --- the registry: train, list, promote, compare, report -----------------------------------------


def _day(value: str, option: str) -> Any:
    from datetime import datetime

    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise _fail(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def training_json(result: Any) -> dict[str, Any]:
    """``model train --json``: model ids, metrics, sample sizes, windows, lifecycle, exclusions."""

    def models(records: dict[str, Any], metrics: dict[str, Any], reports: dict[str, Any]) -> Any:
        return {
            family: {
                "id": record.id,
                "report": str(reports.get(family, "")) or None,
                "metrics": metrics.get(family, {}),
            }
            for family, record in records.items()
        }

    return {
        "as_of": str(result.as_of),
        "rows": result.rows,
        "windows": result.windows,
        "lifecycle": result.lifecycle,
        "excluded": result.excluded,
        "models": models(result.records, result.metrics, result.reports),
        "no_social": models(result.no_social, result.no_social_metrics, result.no_social_reports),
        "challenger_vs_scorecard": result.challenger_vs_scorecard,
    }


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such a number is written as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def refit_table(metrics: dict[str, dict[str, Any]], ids: dict[str, str]) -> Table:
    """One row per family: the deployed fit, its window and rows, and its in-sample AUC."""
    table = Table(title="deployed fit 部署模型 (the refit's AUC is in-sample)", box=box.SIMPLE_HEAD)
    for name in ("model", "deployed", "window", "rows", "in-sample AUC", "variables"):
        table.add_column(name)
    for family, m in metrics.items():
        refit = m.get("refit") or {}
        w = refit.get("window") or m.get("windows", {}).get("development", {})
        table.add_row(
            escape(ids[family]),
            str(m.get("deployed", "development_fit")),
            f"{w.get('from')} .. {w.get('to')}",
            f"{int(w.get('rows') or 0):,}",
            auc_text(refit) if refit else "-",
            f"{refit.get('variables')} (development {refit.get('development_variables')})"
            if refit
            else "-",
        )
    return table


@model_app.command("train")
def train_cmd(
    as_of: str = typer.Option(
        ..., "--as-of", help="Training cut-off: outcomes observed before it."
    ),
    by: str = typer.Option("analyst", "--by", help="Who trains (recorded in the registry)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the development/test split and models."),
    oot_months: int | None = typer.Option(
        None, "--oot-months", metavar="N", help="The last N application months are out of time."
    ),
    oot_share: float | None = typer.Option(
        None,
        "--oot-share",
        metavar="F",
        help="Or this share of the application months (default 0.25).",
    ),
    train_from: str | None = typer.Option(
        None, "--train-from", metavar="DATE", help="Leave out applications before this date."
    ),
    halflife: float | None = typer.Option(
        None,
        "--recency-halflife-months",
        metavar="H",
        help="Weight applications by recency: the weight halves every H months before --as-of.",
    ),
    no_refit: bool = typer.Option(
        False,
        "--no-refit",
        help="Deploy the development fit instead of refitting it on all labelled data.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON document (ids, metrics, samples, windows) only."
    ),
) -> None:
    """Train the scorecard and the challenger, write their validation reports, register both.

    The specification is chosen on development data and judged on test and out-of-time data,
    then refitted on every labelled application up to --as-of; the refit is registered.
    """
    import json

    from creditgraph.scoring.service import train_models
    from creditgraph.scoring.training import Lifecycle, TrainingError
    from creditgraph.settings import get_settings

    day = _day(as_of, "--as-of")
    lifecycle = Lifecycle(
        oot_months=oot_months,
        oot_share=oot_share,
        train_from=_day(train_from, "--train-from") if train_from else None,
        recency_halflife_months=halflife,
        refit=not no_refit,
    )
    from creditgraph.compliance.pack import PackError
    from creditgraph.compliance.pack_files import load_pack

    try:
        lifecycle.check()
        # each version records its family's impact assessment (PIPL Art. 55-56) from the pack
        impact_assessments = load_pack().impact_assessments
        with err.status("training…") if as_json else console.status("training…") as status:
            result = train_models(
                get_settings(),
                day,
                actor=by,
                seed=seed,
                progress=(lambda m: status.update(m)) if status is not None else None,
                lifecycle=lifecycle,
                impact_assessments=impact_assessments,
            )
    except (TrainingError, PackError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(_finite(training_json(result)), ensure_ascii=False, allow_nan=False))
        return
    console.print("samples: " + ", ".join(f"{name} {rows:,}" for name, rows in result.rows.items()))
    if any(result.excluded.values()):
        console.print(
            "not used: " + ", ".join(f"{k} {v:,}" for k, v in result.excluded.items() if v),
            soft_wrap=True,
        )
    _print_wide(training_table(result.metrics, {f: r.id for f, r in result.records.items()}))
    _print_wide(
        no_social_table(result.no_social_metrics, {f: r.id for f, r in result.no_social.items()})
    )
    _print_wide(refit_table(result.metrics, {f: r.id for f, r in result.records.items()}))
    for family, path in result.reports.items():
        console.print(f"{family} report 验证报告: {path}", soft_wrap=True)
    for family, path in result.no_social_reports.items():
        console.print(f"{family} (no social data) report 验证报告: {path}", soft_wrap=True)
    console.print(
        "registered as candidates; promote one of each variant with `creditgraph model promote ID`"
    )


@model_app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document, nothing else."),
) -> None:
    """Every registered version, newest first, with status and headline metrics."""
    from creditgraph.console.display import json_text
    from creditgraph.scoring import registry
    from creditgraph.settings import get_settings
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        records = registry.list_models(db)
    if as_json:
        typer.echo(json_text({"models": [_record_json(r) for r in records]}))
        return
    table = Table(title="model registry 模型库", box=box.SIMPLE_HEAD)
    columns = ("id", "family", "variant", "status", "as of", "test AUC", "OOT AUC", "promoted by")
    for name in (*columns, "data"):
        table.add_column(name)
    for r in records:
        table.add_row(
            escape(r.id),
            r.family,
            r.variant,
            r.status,
            str(r.as_of),
            auc_text(r.metrics.get("test")),
            auc_text(r.metrics.get("out_of_time")),
            escape(f"{r.promoted_by} {r.promoted_at:%Y-%m-%d %H:%M}") if r.promoted_at else "-",
            r.training_data_sha256[:12],
        )
    _print_wide(table)


@model_app.command("promote")
def promote_cmd(
    model_id: str = typer.Argument(..., metavar="ID", help="The version to make champion."),
    by: str = typer.Option(..., "--by", help="Who approves the promotion (recorded)."),
    note: str | None = typer.Option(None, "--note", help="Why (recorded)."),
) -> None:
    """Make a version the champion of its variant; the previous one is retired. Audited."""
    from creditgraph.scoring import registry
    from creditgraph.settings import get_settings
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        try:
            record = registry.promote(db, model_id, by, note)
        except registry.RegistryError as exc:
            raise _fail(str(exc)) from None
    console.print(
        f"champion 冠军模型 ({record.variant}): {record.id} (promoted by {record.promoted_by})"
    )


@model_app.command("compare")
def compare_cmd(
    a: str = typer.Argument(..., metavar="A"),
    b: str = typer.Argument(..., metavar="B"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document, nothing else."),
) -> None:
    """Two versions metric by metric, with B − A."""
    from creditgraph.console.display import json_text
    from creditgraph.scoring import registry
    from creditgraph.settings import get_settings
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        try:
            left, right = registry.get(db, a), registry.get(db, b)
        except registry.RegistryError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        metrics = [
            {"metric": name, "a": x, "b": y, "difference": diff}
            for name, x, y, diff in registry.compare(left, right)
        ]
        document = {
            "a": left.id,
            "b": right.id,
            "metrics": metrics,
            "training_data_sha256": {
                "a": left.training_data_sha256,
                "b": right.training_data_sha256,
            },
        }
        typer.echo(json_text(document))
        return
    table = Table(title=f"{escape(a)} vs {escape(b)}", box=box.SIMPLE_HEAD)
    for name in ("metric", "A", "B", "B − A"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for name, x, y, diff in registry.compare(left, right):
        table.add_row(
            escape(name),
            _value(x),
            _value(y),
            "" if diff is None else f"{diff:+.4f}",
        )
    table.add_row(
        "training data", left.training_data_sha256[:12], right.training_data_sha256[:12], ""
    )
    _print_wide(table)


def _record_json(r: Any) -> dict[str, Any]:
    """A registered version as ``model list --json`` prints it (no artifact: export it)."""
    return {
        "id": r.id,
        "family": r.family,
        "variant": r.variant,
        "status": r.status,
        "as_of": r.as_of,
        "feature_set_version": r.feature_set_version,
        "training_data_sha256": r.training_data_sha256,
        "created_at": r.created_at,
        "created_by": r.created_by,
        "promoted_by": r.promoted_by,
        "promoted_at": r.promoted_at,
        "metrics": r.metrics,
        "report_path": r.report_path,
    }


@model_app.command("export")
def export_cmd(
    model_id: str = typer.Argument(..., metavar="ID", help="The version to export."),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="The folder to write."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Write a version's model files and a manifest.json with their SHA-256 to a folder."""
    from creditgraph.console.display import json_text
    from creditgraph.scoring import registry
    from creditgraph.scoring.export import export_model
    from creditgraph.settings import get_settings
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        try:
            record = registry.get(db, model_id)
        except registry.RegistryError as exc:
            raise _fail(str(exc)) from None
    try:
        manifest = export_model(record, out)
    except OSError as exc:
        raise _fail(f"{out}: cannot write it ({exc.strerror or exc})") from None
    if as_json:
        typer.echo(json_text(manifest))
        return
    console.print(
        f"exported {record.id} ({record.family}, {record.variant}): "
        + ", ".join(manifest["files"])
        + f", manifest.json in {out}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape(str(value)) if value is not None else "-"


@model_app.command("report")
def report_cmd(
    model_id: str = typer.Argument(..., metavar="MODEL"),
    out: Path | None = typer.Option(None, "--out", help="Copy the report here."),
) -> None:
    """The version's validation report (one self-contained HTML file), written at training."""
    import shutil

    from creditgraph.scoring import registry
    from creditgraph.settings import get_settings
    from creditgraph.store.db import migrated_engine

    with migrated_engine(get_settings().database_url) as db:
        try:
            record = registry.get(db, model_id)
        except registry.RegistryError as exc:
            raise _fail(str(exc)) from None
    if not record.report_path or not Path(record.report_path).is_file():
        raise _fail(
            f"the report of {model_id} is missing ({record.report_path}); retrain to rebuild it"
        )
    path = Path(record.report_path)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
        path = out
    console.print(str(path), soft_wrap=True)
