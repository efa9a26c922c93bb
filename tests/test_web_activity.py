"""The activity page: workspace actions and personal-data reads, filtered by the same actor."""

from __future__ import annotations

from sqlalchemy import select

from creditgraph.store.models import Erasure, Loan, table_of
from tests.web_world import Workspace, csrf_of


def _person(workspace: Workspace) -> str:
    loans, erased = table_of(Loan), table_of(Erasure)
    with workspace.engine.connect() as conn:
        person = conn.execute(
            select(loans.c.person_id).where(loans.c.person_id.not_in(select(erased.c.person_id)))
        ).scalar()
    assert person
    return str(person)


def test_an_actor_filter_shows_their_actions_and_their_reads(workspace: Workspace) -> None:
    officer = workspace.users["officer"]
    client = workspace.client("officer")
    person = _person(workspace)
    revealed = client.post(
        f"/applicants/{person}/profile",
        data={"csrf_token": csrf_of(client, f"/applicants/{person}")},
        follow_redirects=False,
    )
    assert revealed.status_code in (200, 303), revealed.status_code
    page = workspace.client("auditor").get(f"/activity?actor=web:{officer}").text
    actions = page.split('id="workspace-actions"', 1)[1].split("</table>", 1)[0]
    reads = page.split('id="data-access"', 1)[1].split("</table>", 1)[0]
    assert 'data-action="profile.reveal"' in actions and 'data-action="login"' in actions
    assert f"user:web:{officer}" in reads and person[:12] in reads
    other = workspace.client("auditor").get("/activity?actor=web:nobody").text
    assert f"user:web:{officer}" not in other.split('id="data-access"', 1)[1]


def test_a_malformed_date_is_a_clear_error(workspace: Workspace) -> None:
    answer = workspace.client("admin").get("/activity?since=yesterday")
    assert answer.status_code == 400 and "YYYY-MM-DD" in answer.text
