"""Applicant lookup on both databases: consent in force, and a submitted id resolved in one read.

``read_submitted`` must pick the same person as ``features.store.resolve_person`` (the HTTP
edge's resolver) for a pseudonym, a lender's id, and an id known to neither.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from creditgraph.decision.lookup import (
    CONSENT_PURPOSE,
    read_applicant,
    read_applicants,
    read_submitted,
)
from creditgraph.decision.service_errors import UnknownPersonError
from creditgraph.features.store import resolve_person
from creditgraph.store.models import (
    Consent,
    IngestBatch,
    OnlineFeatures,
    Person,
    table_of,
)

AT = datetime(2026, 7, 1, 12)
T0 = datetime(2026, 1, 1)


def _person(pid: str) -> dict[str, Any]:
    return {
        "person_id": pid,
        "segment": "salaried",
        "region_tier": "t1",
        "birth_year": 1990,
        "gender": None,
        "occupation": "clerk",
        "declared_monthly_income_enc": b"opaque",  # no data key: never read here
        "registered_at": T0,
        "phone_pseudonym": None,
        "fold": 0,
        "row_hash": "h",
        "batch_id": "b1",
        "created_at": T0,
        "updated_at": T0,
    }


def _consent(pid: str, source: str, **times: datetime | None) -> dict[str, Any]:
    return {
        "person_id": pid,
        "source": source,
        "purpose": CONSENT_PURPOSE,
        "granted_at": times.get("granted_at", T0),
        "expires_at": times.get("expires_at"),
        "revoked_at": times.get("revoked_at"),
        "sensitive": False,
        "text_version": "v1",
        "row_hash": "h",
        "batch_id": "b1",
    }


def _features(pid: str, degree: int) -> dict[str, Any]:
    return {
        "person_id": pid,
        "feature_set_version": "v1",
        "as_of": date(2026, 6, 30),
        "snapshot_id": f"fs1-{pid}",
        "values": {"degree": degree},
        "updated_at": T0,
    }


@pytest.fixture
def people(engine: Engine) -> Engine:
    """pa (features, two of four consents in force, lender's id 'ext-a'), pb (features, a consent
    not yet granted) and pc (lender's id 'ext-c', no features). The lender's ids are stored only
    encrypted: they resolve through their keyed pseudonym (``pseudonym_of``)."""
    with engine.begin() as conn:
        conn.execute(
            insert(table_of(IngestBatch)),
            {
                "id": "b1",
                "started_at": T0,
                "status": "done",
                "content_sha256": "0" * 64,
                "contract_version": "1",
                "counts": {},
            },
        )
        conn.execute(insert(table_of(Person)), [_person(p) for p in ("pa", "pb", "pc")])
        conn.execute(insert(table_of(OnlineFeatures)), [_features("pa", 3), _features("pb", 5)])
        conn.execute(
            insert(table_of(Consent)),
            [
                _consent("pa", "wechat"),
                _consent("pa", "alipay", expires_at=datetime(2027, 1, 1)),
                _consent("pa", "phone", expires_at=datetime(2026, 2, 1)),
                _consent("pa", "email", revoked_at=datetime(2026, 3, 1)),
                _consent("pb", "wechat", granted_at=datetime(2026, 8, 1)),
            ],
        )
    return engine


def test_consent_counts_only_what_is_in_force(people: Engine) -> None:
    with people.connect() as conn:
        found = read_applicants(conn, ["pa", "pb", "nobody"], AT)
        assert set(found) == {"pa", "pb"}
        assert (found["pa"].consent.valid, found["pa"].consent.sources) == (True, 2)
        assert (found["pb"].consent.valid, found["pb"].consent.sources) == (False, 0)
        assert found["pa"].features == {"degree": 3} and found["pa"].snapshot_id == "fs1-pa"
        with pytest.raises(UnknownPersonError, match="unknown person 'pc'"):
            read_applicant(conn, "pc", AT)


@pytest.mark.parametrize(
    ("submitted", "person"),
    [("pa", "pa"), ("pb", "pb"), ("ext-a", "pa"), ("alias-b", "pb")],
)
def test_a_submitted_id_resolves_as_resolve_person_does_in_one_read(
    people: Engine, submitted: str, person: str
) -> None:
    def pseudonym_of(value: str) -> str:
        return {"alias-b": "pb", "ext-a": "pa", "ext-c": "pc"}.get(value, f"p-{value}")

    assert resolve_person(people, submitted, pseudonym_of) == person
    with people.connect() as conn:
        found = read_submitted(conn, submitted, pseudonym_of, AT)
        assert found.person_id == person
        assert found == read_applicant(conn, person, AT)


def test_a_submitted_id_with_no_features_is_unknown(people: Engine) -> None:
    with people.connect() as conn:
        for submitted in ("ext-c", "nobody"):
            with pytest.raises(UnknownPersonError):
                read_submitted(conn, submitted, lambda v: {"ext-c": "pc"}.get(v, f"p-{v}"), AT)
