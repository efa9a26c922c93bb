"""Accessibility of the workspace, checked in chromium with axe-core (from npm, as the
workspace's other libraries): no serious or critical WCAG 2 A/AA violation on any page, and
the keyboard reaches the content first through the skip link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from creditgraph.store.models import Alert, Erasure, Loan, ModelVersion, table_of
from tests.conftest import REPO_ROOT
from tests.web_browser import chromium, serving
from tests.web_world import PASSWORD, Workspace

AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def site(workspace: Workspace) -> Iterator[tuple[str, Any]]:
    if not AXE.is_file():
        pytest.fail("axe-core is missing: run `make assets` (npm ci installs it)")
    with serving(workspace.app) as url, chromium() as browser:
        yield url, browser


def _pages(workspace: Workspace) -> list[str]:
    loans, erased = table_of(Loan), table_of(Erasure)
    with workspace.engine.connect() as conn:
        loan = conn.execute(
            select(loans.c.id, loans.c.person_id).where(
                loans.c.person_id.not_in(select(erased.c.person_id))
            )
        ).first()
        alert = conn.execute(select(table_of(Alert).c.id)).scalar()
        model = conn.execute(select(table_of(ModelVersion).c.id)).scalar()
    assert loan is not None
    return [
        "/portfolio",
        "/portfolio/loans?bucket=M0",
        "/reviews",
        "/alerts",
        f"/alerts/{alert}",
        "/applicants",
        f"/applicants/{loan.person_id}",
        "/loans",
        f"/loans/{loan.id}",
        "/models",
        f"/models/{model}",
        "/activity",
    ]


def _serious(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
        }"""
    )
    return list(result)


def test_no_serious_violations_on_any_page(workspace: Workspace, site: tuple[str, Any]) -> None:
    url, browser = site
    # axe is injected as a script: the test's context lifts the page's script policy for it
    context = browser.new_context(bypass_csp=True, locale="zh-CN")
    page = context.new_page()
    page.goto(url + "/login")
    found = {"/login": _serious(page)}
    page.get_by_label("用户名").fill(workspace.users["admin"])
    page.get_by_label("密码").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url("**/portfolio")
    for path in _pages(workspace):
        page.goto(url + path)
        found[path] = _serious(page)
    context.close()
    assert {path: v for path, v in found.items() if v} == {}


def test_the_keyboard_reaches_the_content_through_the_skip_link(
    workspace: Workspace, site: tuple[str, Any]
) -> None:
    url, browser = site
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    # the log-in form works from the keyboard alone (the name field has the focus)
    page.goto(url + "/login")
    page.keyboard.type(workspace.users["analyst"])
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/portfolio")
    # the first Tab on a page reaches the skip link, which moves the focus to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    context.close()
