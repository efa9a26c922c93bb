"""The validation report: self-contained HTML with real images, every section, honest gaps."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from creditgraph.scoring import metrics as m
from creditgraph.scoring.report import (
    SECTION_IDS,
    LiftSample,
    ModelInfo,
    NetworkLift,
    RefitSummary,
    ReportInputs,
    Sample,
    render_report,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STAMP = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MODEL = ModelInfo(
    model_id="scorecard-2025-03",
    version="3",
    family="scorecard",
    created_at=datetime(2025, 3, 1, tzinfo=UTC),
    feature_set_version="features-v2",
    training_data_hash="sha256:" + "ab" * 32,
)


class _Page(HTMLParser):
    """Collects what the tests inspect: tags, attributes, section texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.images: list[str] = []
        self.sections: dict[str, str] = {}
        self._section: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag == "section":
            self._section = values.get("id")
            self.sections[self._section or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._section is not None:
            self.sections[self._section] += data


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _sample(rng: np.random.Generator, n: int, shift: float = 0.0, labelled: bool = True) -> Sample:
    income = rng.lognormal(8 + shift, 0.6, n)
    contacts = rng.poisson(20, n).astype(float)
    segment = rng.choice(["farmer", "student", "worker"], n, p=[0.3, 0.2, 0.5])
    logit = (
        -1.5 - 0.8 * (np.log(income) - 8) - 0.03 * (contacts - 20) + 0.5 * (segment == "student")
    )
    pd = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < pd).astype(float)
    if not labelled:
        y[:] = np.nan
    gender = rng.choice(np.array(["female", "male", None], dtype=object), n, p=[0.47, 0.5, 0.03])
    return Sample(
        pd=pd,
        y_bad=y,
        score=600 - 40 * np.log2(pd / (1 - pd)),
        variables=pa.table({"income": income, "contacts": contacts, "segment": segment}),
        groups={
            "segment": segment,
            "region_tier": rng.choice(["tier1", "tier3"], n),
            "gender": gender,
        },
        period="2024-H1",
    )


@pytest.fixture(scope="module")
def full_inputs() -> ReportInputs:
    rng = np.random.default_rng(42)
    y = (rng.random(1500) < 0.2).astype(float)
    base = np.clip(0.2 + 0.15 * (y - 0.2) + rng.normal(0, 0.12, y.size), 0.001, 0.999)
    graph = np.clip(base + 0.06 * (y - 0.2) + rng.normal(0, 0.03, y.size), 0.001, 0.999)
    return ReportInputs(
        model=MODEL,
        development=_sample(rng, 3000),
        test=_sample(rng, 1500),
        recent=_sample(rng, 1200, shift=0.4, labelled=False),
        out_of_time=_sample(rng, 1000, shift=0.1),
        iv_table=[{"variable": "income", "iv": 0.31}, {"variable": "contacts", "iv": 0.05}],
        bin_tables=pa.table(
            {
                "variable": ["income", "income", "contacts"],
                "bin": ["(-inf, 3000)", "[3000, inf)", "(-inf, inf)"],
                "count": [900, 2100, 3000],
                "woe": [0.41, -0.18, 0.0],
            }
        ),
        network_lift=NetworkLift(
            family="challenger",
            samples=(
                LiftSample("test", y, graph, base),
                LiftSample("out_of_time", y[:2], graph[:2], base[:2]),
            ),
        ),
        approval_cutoff=0.25,
        refit=RefitSummary(
            deployed="refit",
            windows={
                "development": {"from": "2024-01-02", "to": "2024-09-30", "rows": 3000},
                "refit": {"from": "2024-01-02", "to": "2025-02-27", "rows": 5500},
            },
            refit={"rows": 5500, "auc": 0.81, "auc_low": 0.79, "auc_high": 0.83, "bad_rate": 0.2},
            excluded={"outcome_not_observed_by_as_of": 40},
            dropped=[("L9", "2025-02-03 10:00:00", "registered on the day it applied")],
        ),
    )


def test_the_refit_section_shows_both_fits_windows_and_every_dropped_application(
    full_html: str,
) -> None:
    refit = _parse(full_html).sections["refit"]
    assert "Deployed / 部署: refit" in refit and "0.8100 [0.7900, 0.8300]" in refit
    assert "2025-02-27" in refit and "5,500" in refit and "3,000" in refit
    assert "outcome_not_observed_by_as_of" in refit and "L9" in refit


@pytest.fixture(scope="module")
def full_html(full_inputs: ReportInputs) -> str:
    return render_report(full_inputs, generated_at=STAMP)


def test_every_image_is_an_embedded_png(full_html: str) -> None:
    page = _parse(full_html)
    # ROC, KS, outcome distribution, calibration, sample distribution, network lift, 3 fairness
    assert len(page.images) == 9
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        data = base64.b64decode(src[len(prefix) :], validate=True)
        assert data.startswith(PNG_SIGNATURE) and len(data) > 2000


def test_nothing_is_fetched_from_outside(full_html: str) -> None:
    page = _parse(full_html)
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    for tag, name, value in page.attrs:
        if name == "src":
            assert value.startswith("data:image/png;base64,"), (tag, value[:40])
        if name == "href":
            assert value.startswith("#"), value
    lowered = full_html.lower()
    assert "http://" not in lowered and "https://" not in lowered and "url(" not in lowered


def test_all_sections_are_present_and_filled(full_html: str) -> None:
    page = _parse(full_html)
    assert list(page.sections) == list(SECTION_IDS)
    assert "not available" not in "".join(
        text for sid, text in page.sections.items() if sid not in {"network-lift"}
    )
    headings = ["区分能力 / Discrimination", "校准 / Calibration", "公平性 / Fairness"]
    assert all(h in full_html for h in headings)


def test_summary_shows_model_identity_and_confidence_intervals(
    full_inputs: ReportInputs, full_html: str
) -> None:
    summary = _parse(full_html).sections["summary"]
    for text in ("scorecard-2025-03", "features-v2", MODEL.training_data_hash, "2024-H1"):
        assert text in summary
    test = full_inputs.test
    assert test is not None
    est = m.auc_ci(test.y_bad, test.pd)  # type: ignore[arg-type]
    assert f"{est.auc:.4f} [{est.lower:.4f}, {est.upper:.4f}]" in summary
    assert "3,000" in summary and "1,200" in summary  # development and recent sizes


def test_network_lift_shows_paired_difference(full_inputs: ReportInputs, full_html: str) -> None:
    lift = full_inputs.network_lift
    assert lift is not None
    item = lift.samples[0]
    d = m.paired_auc_difference(item.y_bad, item.pd_with_graph, item.pd_without_graph)
    text = _parse(full_html).sections["network-lift"]
    assert f"{d.difference:+.4f} [{d.lower:+.4f}, {d.upper:+.4f}]" in text
    # the second comparison has too few people: reported in its row, the section still stands
    assert "two bads and two goods" in text


def test_stability_fairness_and_tables(full_html: str) -> None:
    page = _parse(full_html)
    stability = page.sections["stability"]
    assert "development → recent" in stability and "income" in stability
    assert "显著偏移 / shift" in stability or "关注 / watch" in stability  # the recent income shift
    fairness = page.sections["fairness"]
    for heading in ("By segment", "By region_tier", "By gender", "(missing)"):
        assert heading in fairness
    assert "approve when PD <= 0.25" in fairness
    variables = page.sections["variables"]
    assert "强 / strong" in variables and "weak" in variables
    assert variables.count("woe") == 2  # one bin table per variable


def test_missing_inputs_say_not_available() -> None:
    rng = np.random.default_rng(3)
    sample = _sample(rng, 400)
    bare = Sample(pd=sample.pd, y_bad=sample.y_bad)  # development only, no tables or groups
    page = _parse(render_report(ReportInputs(model=MODEL, development=bare), generated_at=STAMP))
    for sid in ("variables", "stability", "out-of-time", "network-lift", "fairness"):
        assert "不可用 / not available" in page.sections[sid], sid
    assert "not available" not in page.sections["discrimination"]  # falls back to development
    assert len(page.images) == 4

    empty = _parse(render_report(ReportInputs(model=MODEL), generated_at=STAMP))
    assert list(empty.sections) == list(SECTION_IDS)
    assert empty.images == []
    for sid in SECTION_IDS[1:-1]:
        assert "not available" in empty.sections[sid], sid


def test_unlabelled_and_immature_samples() -> None:
    rng = np.random.default_rng(9)
    dev = _sample(rng, 500)
    oot = _sample(rng, 300, labelled=False)
    inputs = ReportInputs(
        model=MODEL, development=dev, out_of_time=oot, fairness_sample="out_of_time"
    )
    page = _parse(render_report(inputs, generated_at=STAMP))
    assert "no known good and bad outcomes" in page.sections["out-of-time"]
    assert "PD cut-off" in page.sections["fairness"]  # no decisions and no cut-off given
    assert "development → out-of-time" in page.sections["stability"]


def test_text_is_escaped() -> None:
    rng = np.random.default_rng(1)
    hostile = "<script>alert('x')</script>"
    sample = _sample(rng, 300)
    groups = {"segment": np.array([hostile, "<b>"] * 150, dtype=object)}
    inputs = ReportInputs(
        model=ModelInfo(hostile, "1", "scorecard", "2025-01-01", "fs", "hash"),
        test=Sample(pd=sample.pd, y_bad=sample.y_bad, groups=groups),
        iv_table=[{"variable": hostile, "iv": 0.1}],
        fairness_attributes=("segment",),
        approval_cutoff=0.3,
    )
    html = render_report(inputs, generated_at=STAMP)
    assert hostile not in html and "<b>" not in html
    assert "&lt;script&gt;" in html
    assert "script" not in _parse(html).tags


def test_output_is_deterministic_apart_from_the_timestamp(
    full_inputs: ReportInputs, full_html: str
) -> None:
    assert render_report(full_inputs, generated_at=STAMP) == full_html
    later = render_report(full_inputs, generated_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert later.replace("2026-01-01T00:00:00+00:00", STAMP.isoformat()) == full_html


def test_write_report_creates_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    target = write_report(
        ReportInputs(model=MODEL, test=_sample(rng, 200)), tmp_path / "out" / "report.html"
    )
    assert target.exists() and target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        (Sample(pd=[0.1, 0.2], y_bad=[0]), "y_bad has 1 values"),
        (Sample(pd=[0.1, 1.2]), r"within \[0, 1\]"),
        (Sample(pd=[0.1, 0.2], y_bad=[0, 2]), "y_bad must be 0, 1 or NaN"),
        (Sample(pd=[0.1, 0.2], groups={"g": ["a"]}), "groups column 'g' has 1 rows"),
    ],
)
def test_inconsistent_inputs_are_rejected(sample: Sample, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_report(ReportInputs(model=MODEL, test=sample))


def test_feature_attribute_and_lifecycle_names_are_escaped_where_they_are_shown() -> None:
    hostile = "<script>alert('x')</script>"
    rng = np.random.default_rng(4)
    sample = _sample(rng, 300)
    variables = pa.table({hostile: np.asarray(sample.pd), "contacts": np.arange(300.0)})
    groups = {hostile: np.array(["a", "b"] * 150, dtype=object)}
    inputs = ReportInputs(
        model=MODEL,
        development=Sample(pd=sample.pd, y_bad=sample.y_bad, variables=variables, period=hostile),
        test=Sample(pd=sample.pd, y_bad=sample.y_bad, variables=variables, groups=groups),
        bin_tables={hostile: [{"bin": "<1", "woe": 0.2}]},
        fairness_attributes=(hostile, f"{hostile}-absent"),
        approval_cutoff=0.3,
        refit=RefitSummary(deployed=hostile, windows={hostile: {"from": hostile, "rows": 3}}),
    )
    html = render_report(inputs, generated_at=STAMP)
    page = _parse(html)
    assert hostile not in html and "script" not in page.tags
    assert "<1" not in html and "&lt;1" in html
    # shown as text, not dropped: the variable PSI row, the bin table, the fairness heading and
    # the missing column's reason, the sample period and the training windows
    for sid in ("stability", "variables", "summary", "refit"):
        assert hostile in page.sections[sid], sid
    assert page.sections["fairness"].count(hostile) >= 3
    alts = [value for tag, name, value in page.attrs if tag == "img" and name == "alt"]
    assert f"approval rate by {hostile}" in alts  # attribute values are escaped too


def test_the_templates_escape_every_value() -> None:
    from creditgraph.scoring.report.render import environment

    env = environment()
    assert {"report.html.j2", "blocks.html.j2", "methods.html.j2"} <= set(env.list_templates())
    assert env.from_string("<p>{{ text }}</p>").render(text="<b>&") == "<p>&lt;b&gt;&amp;</p>"
