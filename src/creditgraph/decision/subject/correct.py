"""Correcting a person's personal fields (PIPL Art. 46): checked by the contract, re-encrypted.

A corrected value must pass the same column rules as the value first ingested (length, format,
money with at most two decimals, the row rules on that column), through the contract's own
compiled validation, so ingest and correction can never disagree. Where ingest would null an
invalid optional value and keep the row, a correction refuses it: the person asked for that
value, and silently storing nothing would not be what they asked.

Each value is sealed again under the person's data key; a new phone number also gets its new
pseudonym, so shared-number links follow the correction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, update

from creditgraph.contracts.schema import PERSONS, Namespace
from creditgraph.contracts.validate import compile_query, rule_message, validate_chunk
from creditgraph.decision.subject.requests import SubjectError
from creditgraph.duck import connect
from creditgraph.privacy.fieldcrypt import INCOME_FIELD, key_of, seal, seal_income
from creditgraph.privacy.keys import KeyProvider
from creditgraph.privacy.pseudonym import Pseudonymiser
from creditgraph.store.models import Person, PersonIdentity, table_of

CORRECTABLE = ("name", "phone", "id_number", "note", INCOME_FIELD)
"""What a person may correct; the lender's id itself is the person's key, never corrected."""
_INCOME_STORED = f"{INCOME_FIELD}_fen"


class CorrectionError(SubjectError):
    """A correction that names an unknown field or a value its column rules refuse."""


def _column_spec(fields: list[str]) -> Any:
    columns = []
    for name in fields:
        try:
            columns.append(PERSONS.column(name))
        except KeyError:
            raise CorrectionError(
                f"{name}: the data contract has no such column of persons / 数据约定中没有此字段",
                name,
            ) from None
    rules = tuple(r for r in PERSONS.rules if r.field in fields)
    return replace(PERSONS, columns=tuple(columns), extra_columns=(), rules=rules)


def validate(values: Mapping[str, str | None]) -> dict[str, Any]:
    """The corrected values as they would be stored (money in fen, empty text as None).

    Raises ``CorrectionError`` naming the first field and the rule it breaks.
    """
    if not values:
        raise CorrectionError("name at least one field to correct / 请至少指定一个要更正的字段")
    fields = sorted(values)
    for name in fields:
        if name not in CORRECTABLE:
            raise CorrectionError(
                f"{name}: not a correctable field; one of {', '.join(CORRECTABLE)} / "
                f"不可更正的字段",
                name,
            )
        value = values[name]
        if value is not None and not isinstance(value, str):
            raise CorrectionError(f"{name}: the value must be text / 值须为文本", name)
    spec = _column_spec(fields)
    query = compile_query(spec, set(fields))
    chunk = pa.table(
        {"_row": pa.array([0], pa.int64())}
        | {name: pa.array([values[name]], pa.string()) for name in fields}
    )
    con = connect("UTC", threads=1)
    try:
        result = validate_chunk(con, query, chunk)
    finally:
        con.close()
    problems = [p for errors in result.invalid_errors for p in errors]
    problems += [p for notes in result.noted for p in notes]
    if problems:
        field, _, rule = sorted(problems)[0].partition(":")
        raise CorrectionError(
            f"{rule_message(spec, field, rule)} ({field}: {rule}) / 该值不符合数据约定的规则",
            field,
        )
    row = result.valid.to_pylist()[0]
    return {name: row[_INCOME_STORED if name == INCOME_FIELD else name] for name in fields}


def apply(
    conn: Connection,
    provider: KeyProvider,
    pseudonyms: Pseudonymiser,
    person_id: str,
    corrected: Mapping[str, Any],
    at: datetime,
) -> None:
    """Seal the corrected values under the person's key and store them."""
    aead = key_of(conn, provider, person_id)
    identity: dict[str, Any] = {}
    person: dict[str, Any] = {"updated_at": at}
    for name, value in corrected.items():
        if name == INCOME_FIELD:
            if value is None:
                raise CorrectionError(f"{INCOME_FIELD} is required / 月收入为必填项", name)
            person["declared_monthly_income_enc"] = seal_income(aead, person_id, int(value))
            continue
        identity[name] = seal(aead, person_id, name, value)
        if name == "phone":
            person["phone_pseudonym"] = (
                None if value is None else pseudonyms.one(Namespace.PHONE, _digits(value))
            )
    if identity:
        ids = table_of(PersonIdentity)
        conn.execute(update(ids).where(ids.c.person_id == person_id).values(identity))
    persons = table_of(Person)
    conn.execute(update(persons).where(persons.c.person_id == person_id).values(person))


def _digits(phone: str) -> str:
    """The number as ingest pseudonymises it: digits only, so formatting does not matter."""
    return "".join(ch for ch in phone if ch.isdigit())
