"""The model validation report: one self-contained HTML file a risk team and a regulator can read.

Everything the file needs is inside it — inline CSS, plots as base64 PNG images drawn with
matplotlib's Agg renderer — so it can be archived, mailed or attached to a model-approval record
and still open years later without the network. Every section either shows its figures or says
why they are not available; a missing sample never fails the whole report. All text is escaped.
Output is deterministic for equal inputs apart from the generation timestamp.

Pure presentation: the caller gathers samples and model facts into :class:`ReportInputs`; the
numbers come from :mod:`creditgraph.scoring.metrics` and :mod:`creditgraph.scoring.fairness`.
The parts: :mod:`.inputs` (what the report needs), :mod:`.sections` and :mod:`.governance`
(what each section shows), :mod:`.plots` (the figures), :mod:`.render` and ``templates/`` (HTML).
"""

from creditgraph.scoring.report.inputs import (
    LIFT_TARGET,
    SAMPLE_ORDER,
    SAMPLE_TITLES,
    LiftSample,
    ModelInfo,
    NetworkLift,
    RefitSummary,
    ReportInputs,
    Rows,
    Sample,
    SampleName,
)
from creditgraph.scoring.report.render import render_report, write_report
from creditgraph.scoring.report.sections import SECTION_IDS

__all__ = [
    "LIFT_TARGET",
    "SAMPLE_ORDER",
    "SAMPLE_TITLES",
    "SECTION_IDS",
    "LiftSample",
    "ModelInfo",
    "NetworkLift",
    "RefitSummary",
    "ReportInputs",
    "Rows",
    "Sample",
    "SampleName",
    "render_report",
    "write_report",
]
