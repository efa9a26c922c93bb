"""Erasure leaves nothing behind: decisions and their reviews, the API's stored answers, scores,
dead letters and the ingest quarantine, on SQLite and PostgreSQL.

Two people are erased over the API: a borrower (a decision with a loan: the credit file stays
under the legal hold, its free-text notes do not) and an applicant without a loan (their
decisions go). Before the erasure every place is shown to hold the values searched for, so the
search cannot pass on an empty world; after it no table's text, no SQLite file or WAL byte and
no quarantine file holds them, and the audit log still verifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from creditgraph.api.app import create_app
from creditgraph.api.keys import create_key
from creditgraph.audit import keyfile, outbox, sequencer
from creditgraph.audit.kinds import KINDS
from creditgraph.audit.verify import verify
from creditgraph.ingest.service import ingest
from creditgraph.privacy.erasure import ERASED_NOTE
from creditgraph.privacy.keys import master_key_file, open_master_key
from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
from creditgraph.settings import Settings
from creditgraph.store.db import make_engine, upgrade
from creditgraph.store.models import (
    Base,
    DecisionEvent,
    DecisionRecord,
    EventDeadLetter,
    IdempotencyKey,
    ReviewRequest,
    Score,
    table_of,
)
from tests import subject_world as world
from tests import world as ingest_world

# the applicant without a loan
APPLICANT = "LENDER-B-7731"
APPLICANT_NAME = "欧阳锋"
APPLICANT_PHONE = "13655556666"
APPLICANT_ID_NUMBER = world.OTHER_ID_NUMBER
APPLICANT_INCOME_FEN = 1234567
APPLICANT_SECRETS = {
    "external id": APPLICANT,
    "name": APPLICANT_NAME,
    "phone": APPLICANT_PHONE,
    "id number": APPLICANT_ID_NUMBER,
    "income (fen)": str(APPLICANT_INCOME_FEN),
    "income (yuan)": "12345.67",
}
# the borrower: their declared income stays, in their held decision's inputs only
BORROWER_SECRETS = {
    "external id": world.EXTERNAL_ID,
    "name": world.NAME,
    "phone": world.PHONE,
    "id number": world.ID_NUMBER,
}
BORROWER_INCOME = str(world.INCOME_FEN)


@dataclass
class Home:
    settings: Settings
    engine: Engine
    client: TestClient
    tokens: dict[str, str]
    borrower: world.Subject
    applicant: str  # pseudonym
    applicant_decision: str

    def as_(self, who: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **headers}


@pytest.fixture
def home(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    settings = Settings(home=tmp_path / "home", db_url=db_url)
    load_or_create_key(settings.key_file, new_key=world.PSEUDONYM_KEY)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    provider = open_master_key(engine, master_key_file(settings))
    pseudonyms = Pseudonymiser(world.PSEUDONYM_KEY)
    tokens, ids = {}, {}
    for name, role in {"officer": "officer", "admin": "admin", "app": "applicant-app"}.items():
        created = create_key(engine, name, role, "test")
        tokens[name], ids[name] = created.token, created.info.id
    borrower = world.subject(engine, provider, pseudonyms, applicant_ref=str(ids["app"]))
    with monkeypatch.context() as patch:  # the applicant's own declared income
        patch.setattr(world, "INCOME_FEN", APPLICANT_INCOME_FEN)
        applicant = world.add_person(
            engine, provider, pseudonyms, APPLICANT, APPLICANT_NAME, APPLICANT_PHONE
        )
        decision = world.add_decision(engine, applicant, str(ids["app"]))
    with TestClient(create_app(settings)) as client:
        yield Home(settings, engine, client, tokens, borrower, applicant, decision)
    engine.dispose()


def _quarantine_a_bad_row_about_the_applicant(home: Home, folder: Path) -> None:
    folder.mkdir()
    columns = [*ingest_world.PERSON_COLUMNS, "id_number", "note"]
    row = [APPLICANT, "alien", "tier1", "1988", "male", "cook", "12345.67", "2025-02-01"]
    row += [APPLICANT_NAME, APPLICANT_PHONE, APPLICANT_ID_NUMBER, f"{APPLICANT_NAME} 备注"]
    path = ingest_world.write_csv(folder / "persons.csv", columns, [row])
    report = ingest([path], home.settings)
    assert report.files[0].quarantined == 1


def _dead_letters(home: Home) -> None:
    """One event of the applicant's and one of a contact's naming them; one of strangers."""
    rows = [
        ("e-own", home.applicant, {"person_id": home.applicant, "type": "activity"}),
        (
            "e-tie",
            "c" * 32,
            {"person_id": "c" * 32, "other_person_id": home.applicant, "type": "tie_added"},
        ),
        ("e-else", "d" * 32, {"person_id": "d" * 32, "other_person_id": "e" * 32}),
    ]
    with home.engine.begin() as conn:
        for event_id, person, payload in rows:
            conn.execute(
                insert(table_of(EventDeadLetter)).values(
                    group="monitor",
                    delivery_id=event_id,
                    event_id=event_id,
                    person_id=person,
                    payload={"event_id": event_id, **payload},
                    reason="handler failed",
                    dead_at=datetime(2026, 7, 3),
                )
            )


def _log(engine: Engine, keys: sequencer.LogKeys) -> None:
    with engine.begin() as conn:
        for kind in KINDS:
            outbox.backfill(conn, kind)
    sequencer.integrate_all(engine)
    sequencer.publish(engine, keys, force=True)


def _texts(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table as text (binary columns left out: ciphertext), by table."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            found[table.name] = [repr([v for v in row if not isinstance(v, bytes)]) for row in rows]
    return found


def _where(texts: dict[str, list[str]], secret: str) -> set[str]:
    return {name for name, rows in texts.items() if any(secret in r for r in rows)}


def _count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_after_erasure_no_table_file_or_quarantine_line_holds_either_person(
    home: Home, tmp_path: Path
) -> None:
    client, borrower = home.client, home.borrower
    note_b = (
        f"我是{APPLICANT_NAME}，电话{APPLICANT_PHONE}，身份证{APPLICANT_ID_NUMBER}，月入12345.67"
    )
    asked = client.post(
        f"/v1/decisions/{home.applicant_decision}/review-requests",
        json={"note": note_b},
        headers=home.as_("app", **{"Idempotency-Key": "review-b-1"}),
    )
    assert asked.status_code == 201, asked.text
    note_a = f"{world.NAME} {world.PHONE} {world.ID_NUMBER}"
    asked = client.post(
        f"/v1/decisions/{borrower.decision_id}/review-requests",
        json={"note": note_a},
        headers=home.as_("app", **{"Idempotency-Key": "review-a-1"}),
    )
    assert asked.status_code == 201, asked.text
    objected = client.post(
        f"/v1/subjects/{world.EXTERNAL_ID}/objections",
        json={"decision_id": borrower.decision_id, "note": f"{world.NAME} objects"},
        headers=home.as_("officer"),
    )
    assert objected.status_code == 201, objected.text
    _quarantine_a_bad_row_about_the_applicant(home, tmp_path / "in")
    _dead_letters(home)
    keys = keyfile.load_or_create(tmp_path / "log-keys")
    _log(home.engine, keys)

    before = _texts(home.engine)
    assert {"review_requests", "idempotency_keys"} <= _where(before, APPLICANT_PHONE)
    assert {"review_requests", "idempotency_keys"} <= _where(before, world.ID_NUMBER)
    assert "decisions" in _where(before, str(APPLICANT_INCOME_FEN))
    assert _count(home.engine, Score, Score.person_id == borrower.person_id) == 1
    assert _count(home.engine, EventDeadLetter) == 3
    quarantine = home.settings.quarantine_dir
    assert home.applicant in "".join(p.read_text() for p in quarantine.rglob("*.jsonl"))

    for external in (APPLICANT, world.EXTERNAL_ID):
        erased = client.post(
            f"/v1/subjects/{external}/erase", json={"reference": "DSR-1"}, headers=home.as_("admin")
        )
        assert erased.status_code == 200, erased.text

    after = _texts(home.engine)
    for label, secret in APPLICANT_SECRETS.items():
        assert _where(after, secret) == set(), label
    for label, secret in BORROWER_SECRETS.items():
        assert _where(after, secret) == set(), label
    # the borrower's declared income stays in the credit file, held with the loan
    assert _where(after, BORROWER_INCOME) == {"decisions"}
    decisions = table_of(DecisionRecord)
    assert _count(home.engine, decisions, decisions.c.person_id == home.applicant) == 0
    assert _count(home.engine, decisions, decisions.c.person_id == borrower.person_id) == 1
    # the held decision's reviews stay, their notes blanked; the applicant's are gone
    with home.engine.connect() as conn:
        notes = conn.execute(
            select(ReviewRequest.decision_id, ReviewRequest.note).order_by(ReviewRequest.id)
        ).all()
        events = conn.execute(select(DecisionEvent.decision_id, DecisionEvent.note)).all()
    assert {d for d, _ in notes} == {borrower.decision_id} and len(notes) == 2
    assert {n for _, n in notes} == {ERASED_NOTE}
    assert {d for d, _ in events} == {borrower.decision_id}
    assert {n for _, n in events} <= {ERASED_NOTE, None}
    assert _count(home.engine, IdempotencyKey) == 0
    assert _count(home.engine, Score) == 0
    with home.engine.connect() as conn:
        left = conn.execute(select(EventDeadLetter.event_id)).scalars().all()
    assert left == ["e-else"]
    # neither pseudonym is left but where a tombstone, a hold or a request log needs it
    kept = {"erasures", "legal_holds", "subject_requests", "data_access_log", "privacy_jobs"}
    for pseudonym in (home.applicant, borrower.person_id):
        assert _where(after, pseudonym) - kept - {"loans", "decisions", "journal_lines"} == set()
    assert _where(after, home.applicant) <= kept

    lines = [p.read_text() for p in quarantine.rglob("*.jsonl")]
    assert lines and '"record_forgotten": "erased"' in "".join(lines)
    for secret in (*APPLICANT_SECRETS.values(), home.applicant):
        assert all(secret not in text for text in lines), secret

    if home.engine.dialect.name == "sqlite":
        database = Path(str(home.engine.url.database))
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                data = path.read_bytes()
                for secret in (*APPLICANT_SECRETS.values(), *BORROWER_SECRETS.values()):
                    assert secret.encode() not in data, (path.name, secret)

    _log(home.engine, keys)
    report = verify(home.engine, [s.verifier() for s in keys.signers])
    assert report.ok, [p.describe() for p in report.problems]
    assert report.unlinkable > 0


def test_a_repeated_erasure_finishes_the_quarantine_an_erasure_cut_short_left(
    home: Home, tmp_path: Path
) -> None:
    """The database part commits before the files are rewritten; the request retried finishes
    the files, so a crash in between leaves nothing for good."""
    from creditgraph.privacy.erasure import erase

    _quarantine_a_bad_row_about_the_applicant(home, tmp_path / "in")
    quarantine = home.settings.quarantine_dir
    erase(home.engine, home.applicant)  # as if cut short before the files
    assert home.applicant in "".join(p.read_text() for p in quarantine.rglob("*.jsonl"))

    again = erase(home.engine, home.applicant, quarantine_dir=quarantine)

    assert again.already_erased and again.rows_deleted == {"quarantine_lines": 1}
    (line,) = "".join(p.read_text() for p in quarantine.rglob("*.jsonl")).splitlines()
    assert home.applicant not in line and '"row": 1' in line and '"rule": "allowed"' in line
    assert list(quarantine.rglob("*.forget")) == []
