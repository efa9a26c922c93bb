"""Turns the sections' blocks into one HTML document through the Jinja2 templates.

Autoescaping is on for every template: model ids, feature names and group values come from
lenders' data, and a report that a reviewer opens must never run or inject what they contain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from creditgraph.scoring.report.blocks import Badge, Block, NotAvailable
from creditgraph.scoring.report.inputs import ReportContext, ReportInputs, gather
from creditgraph.scoring.report.sections import SECTIONS, Section


@dataclass(frozen=True)
class RenderedSection:
    id: str
    heading: str
    blocks: list[Block]


def _is_badge(value: object) -> bool:
    return isinstance(value, Badge)


@cache
def environment() -> Environment:
    """The report's template environment: autoescaped, strict about undefined names."""
    env = Environment(
        loader=PackageLoader("creditgraph.scoring.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.tests["badge"] = _is_badge
    return env


def _build(section: Section, ctx: ReportContext) -> list[Block]:
    try:
        return section(ctx)
    except ValueError as exc:  # data a section cannot use; the rest of the report stands
        return [NotAvailable(f"could not be computed: {exc}")]


def render_report(inputs: ReportInputs, *, generated_at: datetime | None = None) -> str:
    """The validation report as one HTML document.

    Raises ``ValueError`` for inconsistent inputs (arrays of different lengths, PDs outside
    [0, 1]); a section whose numbers cannot be computed says so instead of failing the report.
    """
    ctx = gather(inputs)
    info = inputs.model
    stamp = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    sections = [
        RenderedSection(sid, heading, _build(build, ctx)) for sid, heading, build in SECTIONS
    ]
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            title=f"模型验证报告 / Model validation report — {info.model_id} {info.version}",
            meta=f"{info.model_id} · version {info.version} · {info.family} · generated {stamp}",
            sections=sections,
        )
    )


def write_report(
    inputs: ReportInputs, path: str | Path, *, generated_at: datetime | None = None
) -> Path:
    """Render the report and write it as UTF-8 to ``path`` (parents created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(inputs, generated_at=generated_at), encoding="utf-8")
    return target
