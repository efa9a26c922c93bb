"""Input data contract v1: the tables a lender may send us, column by column.

The contract is data, not code paths: validation, documentation and the simulator all read these
declarations, so a column added here is checked, documented and generated in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

CONTRACT_VERSION = "1"


class Kind(StrEnum):
    """Logical column types; each maps to one storage type and one parse rule."""

    STRING = "string"
    ENUM = "enum"
    INT = "int"
    MONEY = "money"  # CNY as decimal text with at most 2 decimals; stored as integer fen
    DATE = "date"
    TIMESTAMP = "timestamp"
    BOOL = "bool"


class Namespace(StrEnum):
    """Identifier spaces that are pseudonymised at the door, each with its own HMAC domain."""

    PERSON = "person"
    DEVICE = "device"
    PHONE = "phone"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True
    allowed: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None  # characters; every STRING column declares one
    pseudonymise: Namespace | None = None
    personal: bool = False  # kept only in the identity table, never in the lake
    # an invalid optional value is nulled (row kept, with a note) unless dropping it would change
    # what the row says: a consent's end, a tie's end, the source the consent gate checks
    reject_invalid: bool = False
    description: str = ""

    @property
    def nulls_when_invalid(self) -> bool:
        """Whether an invalid value becomes null with a note instead of refusing the row."""
        return not self.required and not self.reject_invalid


@dataclass(frozen=True)
class RowRule:
    """A rule across fields, written as a DuckDB boolean expression that must hold."""

    name: str
    field: str
    expression: str
    description: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    destination: Literal["lake", "database"]
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]
    rules: tuple[RowRule, ...] = ()
    # consent gate: whose consent a row needs and at which time (social tables only)
    consent_subject: str | None = None
    consent_time: str | None = None
    extra_columns: tuple[Column, ...] = field(default=())

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return self.columns + self.extra_columns

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.all_columns if c.required)

    def column(self, name: str) -> Column:
        for col in self.all_columns:
            if col.name == name:
                return col
        raise KeyError(name)


SEGMENTS = (
    "individual_business",
    "young_entrepreneur",
    "blue_collar",
    "salaried",
    "student",
    "farmer",
    "other",
)
REGION_TIERS = ("tier1", "tier2", "tier3", "tier4", "county", "rural")
GENDERS = ("female", "male", "other", "undisclosed")
PURPOSES = ("credit_assessment", "monitoring", "sharing")
TIE_KINDS = ("friend", "follow", "contact", "family", "colleague", "emergency_contact")
INTERACTION_KINDS = ("message", "call", "like", "comment", "transfer", "red_packet")
MONEY_INTERACTIONS = ("transfer", "red_packet")
EXTERNAL_LOAN_STATUSES = ("open", "repaid", "overdue", "written_off")
SOCIAL_TABLES = ("ties", "interactions", "devices", "activity_daily")

# Longest accepted text per kind of string; the database columns are at least this wide.
ID_LENGTH = 200  # an external identifier, before pseudonymisation
SOURCE_LENGTH = 100

ID_NUMBER_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_NUMBER_CHECK = "10X98765432"  # GB 11643-1999: check character by weighted sum mod 11


def id_number_check(column: str) -> str:
    """A DuckDB expression true when ``column`` is a valid 18-character resident id number."""
    value = f"upper({column})"
    weighted = " + ".join(
        f"TRY_CAST(substr({value}, {i + 1}, 1) AS INTEGER) * {w}"
        for i, w in enumerate(ID_NUMBER_WEIGHTS)
    )
    return (
        f"coalesce(regexp_full_match({value}, '[0-9]{{17}}[0-9X]') AND "
        f"substr('{ID_NUMBER_CHECK}', (({weighted}) % 11) + 1, 1) = substr({value}, 18, 1), false)"
    )


def id_number_valid(value: str) -> bool:
    """The same GB 11643 rule in Python (the simulator and tests make numbers with it)."""
    text = value.upper()
    if len(text) != 18 or not text[:17].isdigit() or text[17] not in "0123456789X":
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], ID_NUMBER_WEIGHTS, strict=True))
    return ID_NUMBER_CHECK[total % 11] == text[17]


_SOURCE = Column(
    "source",
    Kind.STRING,
    required=False,
    max_length=SOURCE_LENGTH,
    reject_invalid=True,
    description="Social platform or provider the row came from; defaults to the batch's --source.",
)

PERSONS = TableSpec(
    name="persons",
    description="People known to the lender: applicants, borrowers and consenting contacts.",
    destination="database",
    columns=(
        Column(
            "person_id",
            Kind.STRING,
            max_length=ID_LENGTH,
            pseudonymise=Namespace.PERSON,
            description="The lender's external id; replaced by a keyed pseudonym at the door.",
        ),
        Column("segment", Kind.ENUM, allowed=SEGMENTS, description="Customer segment."),
        Column(
            "region_tier", Kind.ENUM, allowed=REGION_TIERS, description="City tier or county/rural."
        ),
        Column(
            "birth_year", Kind.INT, minimum=1900, description="Year of birth; not after this year."
        ),
        Column(
            "gender",
            Kind.ENUM,
            required=False,
            allowed=GENDERS,
            description="For fairness monitoring only; never a model input.",
        ),
        Column(
            "occupation", Kind.STRING, max_length=200, description="Declared occupation, free text."
        ),
        Column(
            "declared_monthly_income",
            Kind.MONEY,
            minimum=0,
            description="Declared monthly income in CNY, at most 2 decimals.",
        ),
        Column(
            "registered_at",
            Kind.TIMESTAMP,
            description="When the person registered with the lender.",
        ),
        Column(
            "name",
            Kind.STRING,
            required=False,
            max_length=200,
            personal=True,
            description="Personal: kept only in the identity table.",
        ),
        Column(
            "phone",
            Kind.STRING,
            required=False,
            max_length=40,
            personal=True,
            pseudonymise=Namespace.PHONE,
            description="Personal: its pseudonym links people who share a number.",
        ),
        Column(
            "id_number",
            Kind.STRING,
            required=False,
            max_length=18,
            personal=True,
            reject_invalid=True,
            description="Personal: PRC resident identity number (18 characters, GB 11643 check).",
        ),
        Column(
            "note",
            Kind.STRING,
            required=False,
            max_length=500,
            personal=True,
            description="Personal: the lender's free-text note; stored encrypted.",
        ),
    ),
    natural_key=("person_id",),
    rules=(
        RowRule(
            "not_in_future",
            "birth_year",
            "birth_year <= year(current_date)",
            "birth_year must not be after the current year",
        ),
        RowRule(
            "phone_format",
            "phone",
            "phone IS NULL OR regexp_full_match(phone, '\\+?[0-9][0-9 -]{5,19}')",
            "phone must be 6-20 digits, optionally with + and separators",
        ),
        RowRule(
            "id_number_checksum",
            "id_number",
            f"id_number IS NULL OR {id_number_check('id_number')}",
            "id_number must be 17 digits and a GB 11643 check character (0-9 or X)",
        ),
    ),
)

CONSENTS = TableSpec(
    name="consents",
    description="Consent per person, source and purpose; the gate for all social data.",
    destination="database",
    columns=(
        Column("person_id", Kind.STRING, max_length=ID_LENGTH, pseudonymise=Namespace.PERSON),
        Column(
            "source",
            Kind.STRING,
            max_length=SOURCE_LENGTH,
            description="Social platform or data provider name.",
        ),
        Column("purpose", Kind.ENUM, allowed=PURPOSES),
        Column("granted_at", Kind.TIMESTAMP),
        Column("expires_at", Kind.TIMESTAMP, required=False, reject_invalid=True),
        Column("revoked_at", Kind.TIMESTAMP, required=False, reject_invalid=True),
        Column(
            "sensitive", Kind.BOOL, description="Whether sensitive personal information is covered."
        ),
        Column(
            "text_version",
            Kind.STRING,
            max_length=50,
            description="Version of the consent text shown.",
        ),
    ),
    natural_key=("person_id", "source", "purpose", "granted_at"),
    rules=(
        RowRule(
            "expires_after_granted",
            "expires_at",
            "expires_at IS NULL OR expires_at > granted_at",
            "expires_at must be after granted_at",
        ),
        RowRule(
            "revoked_after_granted",
            "revoked_at",
            "revoked_at IS NULL OR revoked_at >= granted_at",
            "revoked_at must not precede granted_at",
        ),
    ),
)

TIES = TableSpec(
    name="ties",
    description="Declared relationships between people on a social source.",
    destination="lake",
    columns=(
        Column(
            "src",
            Kind.STRING,
            max_length=ID_LENGTH,
            pseudonymise=Namespace.PERSON,
            description="The consenting person.",
        ),
        Column(
            "dst",
            Kind.STRING,
            max_length=ID_LENGTH,
            pseudonymise=Namespace.PERSON,
            description="Their contact.",
        ),
        Column("kind", Kind.ENUM, allowed=TIE_KINDS),
        Column(
            "source",
            Kind.STRING,
            max_length=SOURCE_LENGTH,
            description="Social platform the tie was read from.",
        ),
        Column("created_at", Kind.TIMESTAMP),
        Column("ended_at", Kind.TIMESTAMP, required=False, reject_invalid=True),
    ),
    natural_key=("src", "dst", "kind", "source", "created_at"),
    rules=(
        RowRule("self_loop", "dst", "src <> dst", "a tie must join two different people"),
        RowRule(
            "ended_after_created",
            "ended_at",
            "ended_at IS NULL OR ended_at >= created_at",
            "ended_at must not precede created_at",
        ),
    ),
    consent_subject="src",
    consent_time="created_at",
)

INTERACTIONS = TableSpec(
    name="interactions",
    description="Counts of interactions between two people; no message content exists here.",
    destination="lake",
    columns=(
        Column(
            "src",
            Kind.STRING,
            max_length=ID_LENGTH,
            pseudonymise=Namespace.PERSON,
            description="The consenting person.",
        ),
        Column("dst", Kind.STRING, max_length=ID_LENGTH, pseudonymise=Namespace.PERSON),
        Column("kind", Kind.ENUM, allowed=INTERACTION_KINDS),
        Column(
            "ts",
            Kind.TIMESTAMP,
            description="When the interaction (or the aggregated period) began.",
        ),
        Column("count", Kind.INT, minimum=1),
        Column(
            "amount",
            Kind.MONEY,
            required=False,
            minimum=0,
            reject_invalid=True,
            description="CNY; only for transfer and red_packet, and required for them.",
        ),
    ),
    extra_columns=(_SOURCE,),
    natural_key=("src", "dst", "kind", "ts", "count", "amount", "source"),
    rules=(
        RowRule("self_loop", "dst", "src <> dst", "an interaction must join two different people"),
        RowRule(
            "amount_only_for_transfers",
            "amount",
            "(kind IN ('transfer', 'red_packet')) = (amount IS NOT NULL)",
            "amount is required for transfer and red_packet and forbidden otherwise",
        ),
    ),
    consent_subject="src",
    consent_time="ts",
)

DEVICES = TableSpec(
    name="devices",
    description="Devices a person used; people sharing a device are linked.",
    destination="lake",
    columns=(
        Column("person_id", Kind.STRING, max_length=ID_LENGTH, pseudonymise=Namespace.PERSON),
        Column("device_id", Kind.STRING, max_length=ID_LENGTH, pseudonymise=Namespace.DEVICE),
        Column("first_seen", Kind.TIMESTAMP),
        Column("last_seen", Kind.TIMESTAMP),
    ),
    extra_columns=(_SOURCE,),
    natural_key=("person_id", "device_id", "first_seen", "last_seen", "source"),
    rules=(
        RowRule(
            "last_after_first",
            "last_seen",
            "last_seen >= first_seen",
            "last_seen must not precede first_seen",
        ),
    ),
    consent_subject="person_id",
    consent_time="first_seen",
)

ACTIVITY_DAILY = TableSpec(
    name="activity_daily",
    description="Daily activity of a person on a social source.",
    destination="lake",
    columns=(
        Column("person_id", Kind.STRING, max_length=ID_LENGTH, pseudonymise=Namespace.PERSON),
        Column("date", Kind.DATE),
        Column("active_minutes", Kind.INT, minimum=0, maximum=1440),
        Column("posts", Kind.INT, minimum=0),
        Column("logins", Kind.INT, minimum=0),
    ),
    extra_columns=(_SOURCE,),
    natural_key=("person_id", "date", "source"),
    consent_subject="person_id",
    consent_time="date",
)

EXTERNAL_LOANS = TableSpec(
    name="external_loans",
    description="Loans on other platforms: multi-lending and repayment history elsewhere.",
    destination="database",
    columns=(
        Column("person_id", Kind.STRING, max_length=ID_LENGTH, pseudonymise=Namespace.PERSON),
        Column("lender", Kind.STRING, max_length=100),
        Column("opened_at", Kind.TIMESTAMP),
        Column("amount", Kind.MONEY, minimum=0),
        Column("status", Kind.ENUM, allowed=EXTERNAL_LOAN_STATUSES),
        Column(
            "max_dpd",
            Kind.INT,
            minimum=0,
            maximum=36_500,
            description="Worst days past due seen on the loan.",
        ),
        Column(
            "reported_at",
            Kind.TIMESTAMP,
            required=False,
            description="When this status was reported; defaults to the ingest time "
            "(or opened_at with --reported-at-default opened_at).",
        ),
    ),
    natural_key=("person_id", "lender", "opened_at", "amount", "status", "max_dpd", "reported_at"),
    rules=(
        RowRule("positive_amount", "amount", "amount > 0", "amount must be positive"),
        RowRule(
            "reported_after_opened",
            "reported_at",
            "reported_at IS NULL OR reported_at >= opened_at",
            "reported_at must not precede opened_at",
        ),
    ),
)

LOAN_OUTCOMES = TableSpec(
    name="loan_outcomes",
    description="Historical loans and whether they defaulted (90+ DPD within 12 months): training labels.",
    destination="database",
    columns=(
        Column("loan_id", Kind.STRING, max_length=100),
        Column("person_id", Kind.STRING, max_length=ID_LENGTH, pseudonymise=Namespace.PERSON),
        Column("applied_at", Kind.TIMESTAMP),
        Column("amount", Kind.MONEY, minimum=0),
        Column("term_months", Kind.INT, minimum=1, maximum=360),
        Column(
            "defaulted",
            Kind.BOOL,
            description="90+ days past due within 12 months of disbursement.",
        ),
        Column("observed_at", Kind.TIMESTAMP, description="When the outcome became known."),
    ),
    natural_key=("loan_id",),
    rules=(
        RowRule("positive_amount", "amount", "amount > 0", "amount must be positive"),
        RowRule(
            "observed_after_applied",
            "observed_at",
            "observed_at >= applied_at",
            "observed_at must not precede applied_at",
        ),
    ),
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        PERSONS,
        CONSENTS,
        TIES,
        INTERACTIONS,
        DEVICES,
        ACTIVITY_DAILY,
        EXTERNAL_LOANS,
        LOAN_OUTCOMES,
    )
}

# Order in which a batch is applied: people before their consents, consents before social rows.
INGEST_ORDER: tuple[str, ...] = tuple(TABLES)


def table_spec(name: str) -> TableSpec:
    """The spec of a contract table, or a ``KeyError`` naming the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(TABLES)
        raise KeyError(f"unknown table {name!r}; the contract has: {known}") from None
