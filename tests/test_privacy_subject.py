"""Subject requests (PIPL Art. 44-47, 24) and the personal-data access log, on SQLite and
PostgreSQL: the export holds every section and its own access, the page reads in Chinese and
English and escapes what people wrote, a correction changes the sealed value and records only
the field's name, an erased person's export is refused, an objection opens a review, deadlines
and the overdue list, and bad input refused with nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from creditgraph.api.app import create_app
from creditgraph.api.keys import create_key
from creditgraph.cli import features_cmd, privacy_cmd, subject_cmd
from creditgraph.contracts.schema import Namespace
from creditgraph.decision.review import ReviewWorkflow
from creditgraph.decision.subject.correct import CorrectionError
from creditgraph.decision.subject.page import render_page
from creditgraph.decision.subject.requests import (
    Deadline,
    ErasedSubjectError,
    SubjectError,
    UnknownSubjectError,
)
from creditgraph.decision.subject.service import EXPORT_CLASSES, Actor, SubjectService
from creditgraph.privacy.access_log import AccessLogError, accesses_of, record_access
from creditgraph.privacy.fieldcrypt import read_identity
from creditgraph.privacy.keys import KeyProvider, master_key_file, open_master_key
from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
from creditgraph.settings import Settings, get_settings
from creditgraph.store.db import make_engine, upgrade
from creditgraph.store.models import (
    DataAccess,
    OnlineFeatures,
    Person,
    ReviewRequest,
    SubjectRequest,
)
from tests import subject_world as world

OFFICER = Actor("key:7", "key")
CLERK = Actor("user:clerk", "user")


@pytest.fixture
def provider(engine: Engine, tmp_path: Path) -> KeyProvider:
    return open_master_key(engine, tmp_path / "keys" / "master.key")


@pytest.fixture
def pseudonyms() -> Pseudonymiser:
    return Pseudonymiser(world.PSEUDONYM_KEY)


@pytest.fixture
def subject(engine: Engine, provider: KeyProvider, pseudonyms: Pseudonymiser) -> world.Subject:
    return world.subject(engine, provider, pseudonyms)


@pytest.fixture
def service(
    engine: Engine, provider: KeyProvider, pseudonyms: Pseudonymiser
) -> Iterator[SubjectService]:
    yield SubjectService(engine, pseudonyms, provider=provider)


def _count(engine: Engine, model: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_the_export_holds_every_section_and_shows_who_read_the_data(
    engine: Engine, service: SubjectService, subject: world.Subject
) -> None:
    earlier = datetime(2026, 6, 1, 8)  # after the person's record was stored (2026-01-05)
    with engine.begin() as conn:
        record_access(
            conn,
            "key:3",
            "key",
            subject.person_id,
            "decision_review",
            ["decision"],
            "read",
            earlier,
        )
        record_access(
            conn,
            "feature-build",
            "job",
            None,
            "credit_assessment",
            ["income"],
            "read",
            earlier + timedelta(hours=1),
        )
        # a bulk read before the person's record existed is not theirs
        before = datetime(2025, 12, 1)
        record_access(
            conn, "feature-build", "job", None, "credit_assessment", ["income"], at=before
        )
    doc = service.export(subject.person_id, OFFICER)

    assert doc["identity"]["external_id"] == world.EXTERNAL_ID
    assert doc["identity"]["name"] == world.NAME and doc["identity"]["phone"] == world.PHONE
    assert doc["identity"]["id_number"] == world.ID_NUMBER
    assert doc["identity"]["declared_monthly_income"] == "8000.50"
    assert doc["person"]["segment"] == "individual_business"
    assert doc["consents"][0]["text_version"] == "v1"
    assert doc["consents"][0]["text_sha256"] == "a" * 64
    assert doc["features"]["values"] == {"activity_30d": 0.5, "degree": 12}
    assert doc["scores"][0]["grade"] == "B"
    decision = doc["decisions"][0]
    assert decision["id"] == subject.decision_id
    assert decision["reasons"][0]["zh"] == world.REASON_ZH
    assert decision["inputs"]["income_monthly_fen"] == world.INCOME_FEN
    loan = doc["loans"][0]
    assert loan["id"] == subject.loan_id and loan["principal"] == "12000.00"
    assert len(loan["instalments"]) == 12
    assert [t["kind"] for t in loan["transactions"]] == ["disbursement"]
    # an alert about the person names the other person only as "another person"
    assert doc["alerts"][0]["evidence"] == {"delinquent": "another person", "exposure": 0.4}
    assert subject.other_person not in json.dumps(doc)
    assert [r["kind"] for r in doc["subject_requests"]] == ["export"]
    log = doc["access_log"]
    assert [(a["actor"], a["action"]) for a in log] == [
        ("key:3", "read"),
        ("feature-build", "read"),
        ("key:7", "export"),
    ]
    assert log[1]["bulk"] is True and log[2]["purpose"] == "subject_request"
    request = service.requests(person_id=subject.person_id)[0]
    assert request["status"] == "done" and request["result"]["sections"]["loans"] == 1


def test_two_exports_of_unchanged_data_differ_only_in_their_own_request(
    service: SubjectService, subject: world.Subject
) -> None:
    first = service.export(subject.person_id, OFFICER)
    second = service.export(subject.person_id, OFFICER)
    moving = ("request_id", "generated_at", "subject_requests", "access_log")
    assert {k: v for k, v in first.items() if k not in moving} == {
        k: v for k, v in second.items() if k not in moving
    }
    assert second["access_log"][:1] == first["access_log"][:1]


def test_the_page_reads_in_chinese_and_english_and_escapes_what_people_wrote(
    service: SubjectService, subject: world.Subject
) -> None:
    doc = service.export(subject.person_id, OFFICER)
    zh = render_page(doc, "zh")
    en = render_page(doc, "en")
    assert '<html lang="zh">' in zh and "谁访问了您的数据" in zh and world.REASON_ZH not in zh
    assert "近期新增联系人较多 &lt;b&gt;" in zh
    assert "Who accessed your data" in en and "Many new contacts lately &lt;b&gt;" in en
    assert "<th>申报月收入</th><td>8000.50</td>" in zh
    assert "<th>declared monthly income</th><td>8000.50</td>" in en
    for page in (zh, en):
        assert "<script>" not in page and "&lt;script&gt;" in page
    with pytest.raises(ValueError, match="lang"):
        render_page(doc, "fr")


def test_a_correction_changes_the_sealed_value_and_records_only_the_field_name(
    engine: Engine,
    provider: KeyProvider,
    service: SubjectService,
    subject: world.Subject,
    pseudonyms: Pseudonymiser,
) -> None:
    answer = service.correct(
        subject.person_id,
        {
            "name": "张三丰",
            "phone": "139-0000-1111",
            "declared_monthly_income": "9000.5",
            "id_number": world.OTHER_ID_NUMBER,
            "note": "",
        },
        CLERK,
    )
    assert answer["status"] == "done"
    assert answer["detail"] == {
        "fields": ["declared_monthly_income", "id_number", "name", "note", "phone"]
    }
    with engine.connect() as conn:
        identity = read_identity(conn, provider, subject.person_id)
        stored = list(conn.execute(select(SubjectRequest.detail, SubjectRequest.result)).one())
        phone_pseudonym = conn.execute(
            select(Person.phone_pseudonym).where(Person.person_id == subject.person_id)
        ).scalar_one()
        accesses = accesses_of(conn, subject.person_id)
    assert (identity.name, identity.phone) == ("张三丰", "139-0000-1111")
    assert identity.declared_monthly_income_fen == 900050
    assert (identity.id_number, identity.note) == (world.OTHER_ID_NUMBER, None)
    assert phone_pseudonym == pseudonyms.one(Namespace.PHONE, "13900001111")
    assert "张三丰" not in json.dumps(stored, ensure_ascii=False)
    assert "0000" not in json.dumps(stored) and world.OTHER_ID_NUMBER not in json.dumps(stored)
    assert accesses[-1]["action"] == "correct"
    assert accesses[-1]["data_classes"] == answer["detail"]["fields"]


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"nickname": "x"}, "nickname", "not a correctable field"),
        ({"external_id": "P1000009"}, "external_id", "not a correctable field"),
        ({"phone": "call me"}, "phone", "phone must be 6-20 digits"),
        ({"declared_monthly_income": "12.345"}, "declared_monthly_income", "at most 2 decimals"),
        ({"declared_monthly_income": "-1"}, "declared_monthly_income", "at least 0"),
        ({"declared_monthly_income": ""}, "declared_monthly_income", "is required"),
        ({"name": "x" * 201}, "name", "at most 200 characters"),
        ({"id_number": world.ID_NUMBER[:17] + "Y"}, "id_number", "GB 11643 check"),
        ({"id_number": world.WRONG_CHECK_ID}, "id_number", "GB 11643 check"),
        ({}, None, "at least one field"),
    ],
)
def test_a_correction_the_contract_refuses_names_field_and_rule_and_stores_nothing(
    engine: Engine,
    provider: KeyProvider,
    service: SubjectService,
    subject: world.Subject,
    values: dict[str, str],
    field: str | None,
    words: str,
) -> None:
    with pytest.raises(CorrectionError, match=words) as refused:
        service.correct(subject.person_id, values, CLERK)
    assert refused.value.field == field
    assert _count(engine, SubjectRequest) == 0 and _count(engine, DataAccess) == 0
    with engine.connect() as conn:
        assert read_identity(conn, provider, subject.person_id).name == world.NAME


def test_requests_about_an_unknown_person_are_refused_and_store_nothing(
    engine: Engine, service: SubjectService, subject: world.Subject
) -> None:
    with pytest.raises(UnknownSubjectError, match="no person with this id"):
        service.export("0" * 32, OFFICER)
    with pytest.raises(UnknownSubjectError):
        service.correct("0" * 32, {"name": "x"}, CLERK)
    with pytest.raises(UnknownSubjectError):
        service.erase("0" * 32, CLERK)
    with pytest.raises(UnknownSubjectError):
        service.receive("0" * 32, "export", CLERK)
    with pytest.raises(SubjectError, match="kind must be one of"):
        service.receive(subject.person_id, "delete_everything", CLERK)
    assert _count(engine, SubjectRequest) == 0 and _count(engine, DataAccess) == 0


def test_erasure_is_recorded_and_a_later_export_is_refused_with_a_clear_message(
    engine: Engine, service: SubjectService, subject: world.Subject
) -> None:
    filed = service.receive(subject.person_id, "export", CLERK)
    answer = service.erase(subject.person_id, CLERK)
    assert answer["status"] == "done" and answer["kind"] == "erase"
    assert answer["result"]["already_erased"] is False
    assert answer["result"]["rows_deleted"]["persons"] == 1
    with pytest.raises(ErasedSubjectError, match=r"was erased on .*nothing is held to export"):
        service.export(subject.person_id, OFFICER)
    # the disbursed loan's accounting stays under the legal hold, and the answer says so
    with pytest.raises(ErasedSubjectError, match=r"kept by law until \d{4}-\d\d-\d\d"):
        service.export(subject.person_id, OFFICER)
    with pytest.raises(ErasedSubjectError):
        service.correct(subject.person_id, {"name": "x"}, CLERK)
    again = service.erase(subject.person_id, CLERK)
    assert again["result"]["already_erased"] is True
    # an export filed before the erasure is still answered: rejected, with the reason
    with pytest.raises(ErasedSubjectError):
        service.export(subject.person_id, OFFICER, request_id=filed["id"])
    answers = {
        r["id"]: (r["kind"], r["status"], r["result"])
        for r in service.requests(person_id=subject.person_id)
    }
    assert answers.pop(filed["id"]) == ("export", "rejected", {"reason": "erased"})
    assert sorted(kind for kind, _, _ in answers.values()) == ["erase", "erase"]


def test_an_objection_opens_a_review_of_the_decision_in_the_queue(
    engine: Engine, service: SubjectService, subject: world.Subject
) -> None:
    answer = service.object(subject.person_id, subject.decision_id, OFFICER, "I disagree")
    assert answer["status"] == "done" and answer["detail"] == {"decision_id": subject.decision_id}
    queue = ReviewWorkflow(engine, datetime.now).queue("open")
    assert [(r["decision_id"], r["kind"]) for r in queue] == [(subject.decision_id, "objection")]
    assert answer["result"] == {"review_id": queue[0]["id"]}
    with pytest.raises(SubjectError, match="no such decision about this person"):
        service.object(subject.person_id, "dc_missing", OFFICER)
    other = world.add_decision(engine, subject.other_person)
    with pytest.raises(SubjectError, match="no such decision about this person"):
        service.object(subject.person_id, other, OFFICER)
    assert _count(engine, ReviewRequest) == 1 and _count(engine, SubjectRequest) == 1


def test_a_filed_request_is_due_in_fifteen_days_and_listed_once_overdue(
    engine: Engine, provider: KeyProvider, pseudonyms: Pseudonymiser, subject: world.Subject
) -> None:
    now = [datetime(2026, 8, 1, 10)]
    service = SubjectService(engine, pseudonyms, provider=provider, clock=lambda: now[0])
    filed = service.receive(subject.person_id, "export", CLERK)
    assert filed["status"] == "received" and filed["due_at"] == "2026-08-16T10:00:00"
    assert service.requests(overdue=True) == []
    now[0] = datetime(2026, 8, 16, 10, 1)
    late = service.requests(overdue=True)
    assert [r["id"] for r in late] == [filed["id"]] and late[0]["overdue"] is True
    started = service.start(filed["id"], CLERK)
    assert started["status"] == "in_progress" and started["overdue"] is True
    assert started["detail"] == {"started_by": "user:clerk"}
    with pytest.raises(SubjectError, match="not received"):
        service.start(filed["id"], CLERK)
    doc = service.export(subject.person_id, CLERK, request_id=filed["id"])
    assert doc["request_id"] == filed["id"]
    assert service.requests(overdue=True) == []
    with pytest.raises(SubjectError, match="already done"):
        service.export(subject.person_id, CLERK, request_id=filed["id"])
    shorter = SubjectService(engine, pseudonyms, provider=provider, deadline=Deadline(5))
    assert shorter.deadline.due(datetime(2026, 8, 1)) == datetime(2026, 8, 6)
    with pytest.raises(SubjectError, match="deadline_days"):
        Deadline(0)


def test_a_refused_request_keeps_its_reason(
    service: SubjectService, subject: world.Subject
) -> None:
    filed = service.receive(subject.person_id, "correct", CLERK)
    refused = service.reject(filed["id"], "identity not verified / 身份未核实", CLERK)
    assert refused["status"] == "rejected" and refused["completed_at"]
    with pytest.raises(SubjectError, match="already rejected"):
        service.reject(filed["id"], "again", CLERK)


def test_the_access_log_refuses_an_entry_that_does_not_say_who_or_why(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(AccessLogError, match="actor must name") as no_actor:
            record_access(conn, " ", "user", None, "compliance", ["identity"])
        assert no_actor.value.field == "actor"
        with pytest.raises(AccessLogError, match="purpose must be one of"):
            record_access(conn, "user:a", "user", None, "curiosity", ["identity"])
        with pytest.raises(AccessLogError, match="actor_kind"):
            record_access(conn, "user:a", "robot", None, "compliance", ["identity"])
        with pytest.raises(AccessLogError, match="data_classes"):
            record_access(conn, "user:a", "user", None, "compliance", [])
    assert _count(engine, DataAccess) == 0


# -- over HTTP: the real app, its keys and roles ----------------------------------------------


@dataclass
class Http:
    client: TestClient
    engine: Engine
    subject: world.Subject
    tokens: dict[str, str]
    ids: dict[str, int]

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _home(tmp_path: Path, db_url: str) -> tuple[Settings, KeyProvider, Pseudonymiser, Engine]:
    settings = Settings(home=tmp_path / "home", db_url=db_url)
    load_or_create_key(settings.key_file, new_key=world.PSEUDONYM_KEY)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    provider = open_master_key(engine, master_key_file(settings))
    return settings, provider, Pseudonymiser(world.PSEUDONYM_KEY), engine


@pytest.fixture
def http(tmp_path: Path, db_url: str) -> Iterator[Http]:
    settings, provider, pseudonyms, engine = _home(tmp_path, db_url)
    tokens, ids = {}, {}
    for name, role in {
        "officer": "officer",
        "admin": "admin",
        "analyst": "analyst",
        "app": "applicant-app",
        "other-app": "applicant-app",
    }.items():
        created = create_key(engine, name, role, "test")
        tokens[name], ids[name] = created.token, created.info.id
    person = world.subject(engine, provider, pseudonyms, applicant_ref=str(ids["app"]))
    with TestClient(create_app(settings)) as client:
        yield Http(client, engine, person, tokens, ids)
    engine.dispose()


def test_an_officer_exports_over_http_and_sees_an_earlier_read_of_the_decision(
    http: Http,
) -> None:
    read = http.client.get(f"/v1/decisions/{http.subject.decision_id}", headers=http.as_("officer"))
    assert read.status_code == 200, read.text
    answer = http.client.post(
        f"/v1/subjects/{world.EXTERNAL_ID}/export", headers=http.as_("officer")
    )
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["identity"]["name"] == world.NAME and doc["decisions"][0]["reasons"]
    officer = f"key:{http.ids['officer']}"
    assert [(a["actor"], a["action"], a["purpose"]) for a in doc["access_log"]] == [
        (officer, "read", "decision_review"),
        (officer, "export", "subject_request"),
    ]
    for who in ("analyst", "app"):
        refused = http.client.post(
            f"/v1/subjects/{world.EXTERNAL_ID}/export", headers=http.as_(who)
        )
        assert refused.status_code == 403
    listed = http.client.get("/v1/subject-requests", headers=http.as_("admin")).json()["items"]
    assert [(r["kind"], r["status"]) for r in listed] == [("export", "done")]


def test_corrections_erasure_and_refusals_over_http(http: Http) -> None:
    base = f"/v1/subjects/{world.EXTERNAL_ID}"
    bad = http.client.post(
        f"{base}/corrections", json={"fields": {"phone": "call me"}}, headers=http.as_("officer")
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "phone"
    assert "call me" not in bad.text
    fixed = http.client.post(
        f"{base}/corrections", json={"fields": {"note": ""}}, headers=http.as_("officer")
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["detail"] == {"fields": ["note"]}
    unknown = http.client.post("/v1/subjects/P9999999/export", headers=http.as_("officer"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "subject_not_found"
    erased = http.client.post(
        f"{base}/erase", json={"reference": "DSR-1"}, headers=http.as_("admin")
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["detail"] == {"reference": "DSR-1"}
    gone = http.client.post(f"{base}/export", headers=http.as_("officer"))
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "subject_erased"
    assert "erased on" in gone.json()["error"]["message"]


def test_the_applicant_app_objects_only_to_its_own_applicants_decisions(http: Http) -> None:
    path = f"/v1/subjects/{world.EXTERNAL_ID}/objections"
    body = {"decision_id": http.subject.decision_id, "note": "please look again"}
    stranger = http.client.post(path, json=body, headers=http.as_("other-app"))
    assert stranger.status_code == 404
    filed = http.client.post(path, json=body, headers=http.as_("app"))
    assert filed.status_code == 201, filed.text
    review_id = filed.json()["result"]["review_id"]
    queue = http.client.get("/v1/review-queue", headers=http.as_("officer")).json()["items"]
    assert [(r["id"], r["kind"]) for r in queue] == [(review_id, "objection")]
    again = http.client.post(path, json=body, headers=http.as_("app"))
    assert again.status_code == 409


# -- at the command line -------------------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """test root"""

    subject_cmd.register(app)
    privacy_cmd.register(app)
    features_cmd.register(app)
    return app


@pytest.fixture
def cli_home(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, world.Subject]]:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CREDITGRAPH_DB_URL", db_url)
    get_settings.cache_clear()
    _, provider, pseudonyms, engine = _home(tmp_path, db_url)
    yield engine, world.subject(engine, provider, pseudonyms)
    engine.dispose()


def test_the_subject_commands_end_to_end(
    cli_home: tuple[Engine, world.Subject], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, person = cli_home
    runner = CliRunner()
    app = _cli()
    out, page = tmp_path / "out" / "export.json", tmp_path / "out" / "export.html"
    looked_up = runner.invoke(app, ["features", "get", world.EXTERNAL_ID, "--json"])
    assert looked_up.exit_code == 0, looked_up.output
    exported = runner.invoke(
        app,
        [
            "subject",
            "export",
            world.EXTERNAL_ID,
            "--out",
            str(out),
            "--html",
            str(page),
            "--lang",
            "en",
            "--actor",
            "user:dpo",
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert world.NAME not in exported.output and world.EXTERNAL_ID not in exported.output
    for path in (out, page):
        assert path.stat().st_mode & 0o777 == 0o600
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["identity"]["external_id"] == world.EXTERNAL_ID
    reads = [(a["actor"], a["action"], a["data_classes"]) for a in doc["access_log"]]
    assert reads == [
        (subject_cmd.actor_of(None).name, "read", ["features"]),
        ("user:dpo", "export", sorted(EXPORT_CLASSES)),
    ]
    assert "Who accessed your data" in page.read_text(encoding="utf-8")

    corrected = runner.invoke(
        app, ["subject", "correct", world.EXTERNAL_ID, "--field", "declared_monthly_income=7000"]
    )
    assert corrected.exit_code == 0, corrected.output
    refused = runner.invoke(
        app, ["subject", "correct", world.EXTERNAL_ID, "--field", "income=7000"]
    )
    assert refused.exit_code == 1
    assert refused.output.strip().startswith("error: income: not a correctable field")
    assert "Traceback" not in refused.output

    objected = runner.invoke(
        app, ["subject", "object", world.EXTERNAL_ID, "--decision", person.decision_id]
    )
    assert objected.exit_code == 0 and "review rv_" in objected.output

    monkeypatch.setenv("CREDITGRAPH_SUBJECT_REQUEST_DAYS", "5")  # a lender's shorter term
    get_settings.cache_clear()
    filed = runner.invoke(app, ["subject", "file", world.EXTERNAL_ID, "--kind", "export"])
    assert filed.exit_code == 0, filed.output
    listed = runner.invoke(app, ["subject", "list", "--json"])
    rows = json.loads(listed.output)
    kinds = [(r["kind"], r["status"]) for r in rows]
    received = next(r for r in rows if r["status"] == "received")
    due = datetime.fromisoformat(received["due_at"]) - datetime.fromisoformat(
        received["received_at"]
    )
    assert due == timedelta(days=5)
    assert sorted(kinds) == sorted(
        [("export", "done"), ("correct", "done"), ("object", "done"), ("export", "received")]
    )
    assert runner.invoke(app, ["subject", "list", "--overdue"]).output.strip() == (
        "no overdue requests"
    )

    unconfirmed = runner.invoke(app, ["privacy", "erase", world.EXTERNAL_ID])
    assert unconfirmed.exit_code == 2
    erased = runner.invoke(app, ["privacy", "erase", world.EXTERNAL_ID, "--yes"])
    assert erased.exit_code == 0 and "tombstone recorded" in erased.output
    after = runner.invoke(app, ["subject", "export", world.EXTERNAL_ID, "--out", str(out)])
    assert after.exit_code == 1
    assert after.output.startswith("error: this person's data was erased on ")
    unknown = runner.invoke(app, ["subject", "export", "P7654321", "--out", str(out)])
    assert unknown.exit_code == 1 and "no person with this id is held" in unknown.output


def test_the_export_counts_the_lakes_social_rows_about_the_person(
    engine: Engine,
    provider: KeyProvider,
    pseudonyms: Pseudonymiser,
    subject: world.Subject,
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    world.write_ties(lake, subject.person_id, subject.other_person)
    service = SubjectService(engine, pseudonyms, provider=provider, lake_dir=lake)
    doc = service.export(subject.person_id, OFFICER)
    assert doc["social_data"] == [
        {
            "table": "ties",
            "source": "wechat",
            "role": "mentioned",
            "rows": 1,
            "first": "2026-03-01T00:00:00+00:00",
            "last": "2026-03-01T00:00:00+00:00",
        },
        {
            "table": "ties",
            "source": "wechat",
            "role": "own",
            "rows": 2,
            "first": "2026-01-01T00:00:00+00:00",
            "last": "2026-02-01T00:00:00+00:00",
        },
    ]
    assert subject.other_person not in json.dumps(doc)


def test_the_export_of_an_ingested_person_reads_what_ingest_stored(
    tmp_path: Path, settings: Settings
) -> None:
    from creditgraph.ingest.service import ingest
    from tests import world as tiny

    ingest(tiny.write_world(tmp_path / "in"), settings)
    engine = make_engine(settings.database_url)
    pseudonyms = Pseudonymiser(load_or_create_key(settings.key_file))
    service = SubjectService(
        engine,
        pseudonyms,
        provider=open_master_key(engine, master_key_file(settings)),
        lake_dir=settings.lake_dir,
    )
    doc = service.export(pseudonyms.one(Namespace.PERSON, "P1"), CLERK)
    engine.dispose()
    assert doc["identity"]["external_id"] == "P1" and doc["identity"]["name"] == "李娜"
    assert doc["identity"]["declared_monthly_income"] == "8000.50"
    assert sorted((c["purpose"], c["recorded_via"]) for c in doc["consents"]) == [
        ("credit_assessment", "ingest"),
        ("monitoring", "ingest"),
    ]
    assert all(c["text_version"] == "2022.1" and "text_sha256" in c for c in doc["consents"])
    ties = {(s["role"], s["source"]): s["rows"] for s in doc["social_data"] if s["table"] == "ties"}
    assert ties == {("own", "wechat"): 2, ("mentioned", "wechat"): 1, ("mentioned", "weibo"): 1}
    assert {s["table"] for s in doc["social_data"]} >= {"ties", "interactions"}


def test_an_application_records_its_read_of_the_applicant_in_the_decisions_transaction(
    tmp_path: Path,
) -> None:
    from tests.scored_world import scored_world

    settings = scored_world(tmp_path, people=600, seed=5)
    app = create_app(settings)
    engine = app.state.ctx.engine
    tokens = {
        who: create_key(engine, who, role, "test").token
        for who, role in (("app", "applicant-app"), ("officer", "officer"))
    }
    with engine.connect() as conn:
        person = conn.execute(select(OnlineFeatures.person_id).limit(1)).scalar_one()
    application = {
        "person_id": person,
        "product_code": "XFD-EDU",
        "amount": "20000.00",
        "term": 12,
        "purpose": "education",
    }
    with TestClient(app) as client:
        decided = client.post(
            "/v1/applications",
            json=application,
            headers={"Authorization": f"Bearer {tokens['app']}", "Idempotency-Key": "a-1"},
        )
        assert decided.status_code == 201, decided.text
        exported = client.post(
            f"/v1/subjects/{person}/export",
            headers={"Authorization": f"Bearer {tokens['officer']}"},
        )
    assert exported.status_code == 200, exported.text
    doc = exported.json()
    assert [d["id"] for d in doc["decisions"]] == [decided.json()["id"]]
    reads = [(a["actor_kind"], a["action"], a["purpose"]) for a in doc["access_log"]]
    assert ("key", "read", "credit_assessment") in reads
    assert reads[-1] == ("key", "export", "subject_request")
