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
