"""Documentation that is generated from code must equal what the code generates."""

from __future__ import annotations

from creditgraph.contracts.docs import render_markdown
from creditgraph.features import catalogue
from tests.conftest import REPO_ROOT


def test_data_contract_page_is_current() -> None:
    page = (REPO_ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    assert page == render_markdown(), "run: creditgraph contract docs > docs/data-contract.md"


def test_features_page_is_current() -> None:
    page = (REPO_ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    assert page == catalogue.render_markdown()


def test_web_page_shows_the_role_matrix_in_force() -> None:
    from creditgraph.web.roles import render_markdown as matrix

    page = (REPO_ROOT / "docs" / "web.md").read_text(encoding="utf-8")
    shown = page.split("<!-- matrix -->\n", 1)[1].split("<!-- /matrix -->", 1)[0]
    assert shown == matrix(), "update the matrix in docs/web.md from web.roles.render_markdown()"
    for image in ("login", "portfolio", "portfolio-drilldown", "applicant", "applicant-graph",
                  "reviews", "alerts", "alert", "loans", "loan", "models", "model", "activity"):  # fmt: skip
        assert f"(img/web/{image}.png)" in page
        assert (REPO_ROOT / "docs" / "img" / "web" / f"{image}.png").is_file(), image
