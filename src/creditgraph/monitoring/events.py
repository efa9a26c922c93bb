"""Event contract v1: every monitoring event type, field by field, as data.

Like the input contract (``contracts.schema``), the contract is declarations, not code paths:
validation (``monitoring.validate``), pseudonymisation at the door (``monitoring.door``) and the
generated ``docs/events.md`` (``monitoring.docs``) all read these, so a field added here is
checked, pseudonymised and documented in one place.

Every event carries the common fields (``event_id``, ``type``, ``person_id``, ``occurred_at``,
``source``, ``version``) and the fields of its type. Money arrives as decimal text in yuan and
is kept as integer fen; times must carry an offset and are kept in UTC. Events carry counts and
amounts only: no field may hold message content, and a field named like one is refused.

Pure: imports only the input contract's shared vocabularies and nothing that does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from creditgraph.contracts.schema import (
    EXTERNAL_LOAN_STATUSES,
    ID_LENGTH,
    INTERACTION_KINDS,
    MONEY_INTERACTIONS,
    SOURCE_LENGTH,
    TIE_KINDS,
    Namespace,
)

EVENT_CONTRACT_VERSION = 1
EVENT_ID_LENGTH = 100
LENDER_LENGTH = 100
LOAN_ID_LENGTH = 100
PHONE_LENGTH = 40
PHONE_PATTERN = r"\+?[0-9][0-9 -]{5,19}"  # the input contract's phone_format rule

SERVICING_SOURCE = "servicing"
"""The only source of servicing's own events: they are written by this platform, never sent in."""

MONITORING_PURPOSE = "monitoring"
"""The consent purpose that lets social and account data be watched after the decision."""

DPD_BUCKETS = ("M0", "M1", "M2", "M3", "M3+")
"""Servicing's delinquency buckets (``servicing.delinquency.Bucket``), kept equal by a test."""

INQUIRY_REASONS = ("loan_application", "credit_card", "guarantee", "account_review", "other")

CONTENT_WORDS = frozenset(
    {"content", "contents", "text", "texts", "body", "bodies", "message", "messages", "msg", "msgs"}
)
"""A field whose name contains one of these words is refused: events never carry content."""


class Category(StrEnum):
    """Where an event comes from; it decides the consent gate."""

    SOCIAL = "social"
    FINANCIAL = "financial"
    SERVICING = "servicing"


class EventType(StrEnum):
    TIE_ADDED = "tie_added"
    TIE_ENDED = "tie_ended"
    INTERACTION_BATCH = "interaction_batch"
    ACTIVITY_DAY = "activity_day"
    DEVICE_SEEN = "device_seen"
    PHONE_CHANGED = "phone_changed"
    EXTERNAL_LOAN_REPORTED = "external_loan_reported"
    CREDIT_INQUIRY = "credit_inquiry"
    INCOME_SUMMARY = "income_summary"
    TRANSFER_SUMMARY = "transfer_summary"
    REPAYMENT_POSTED = "repayment_posted"
    INSTALMENT_MISSED = "instalment_missed"
    DPD_BUCKET_CHANGED = "dpd_bucket_changed"
    LOAN_WRITTEN_OFF = "loan_written_off"


class FieldKind(StrEnum):
    """JSON shapes a field accepts, each with one parse rule and one typed value."""

    STRING = "string"  # JSON string, trimmed; kept as str
    ENUM = (
        "enum"  # JSON string, one of the allowed values (case-insensitive); kept as spelled there
    )
    INT = "int"  # JSON integer (not a boolean, not a float); kept as int
    MONEY = "money"  # JSON string of yuan with at most 2 decimals; kept as integer fen
    DATE = "date"  # JSON string YYYY-MM-DD; kept as datetime.date
    TIMESTAMP = "timestamp"  # JSON string, ISO 8601 with an offset; kept as an aware UTC datetime
    BOOL = "bool"  # JSON true/false; kept as bool


@dataclass(frozen=True, slots=True)
class EventField:
    name: str
    kind: FieldKind
    description: str
    required: bool = True
    allowed: tuple[str, ...] = ()
    minimum: int | None = None  # for money: in fen
    maximum: int | None = None
    max_length: int | None = None  # characters; every STRING field declares one
    pattern: str | None = None  # a regular expression the whole trimmed text must match
    pseudonymise: Namespace | None = None  # replaced at the door by its keyed pseudonym


Values = Mapping[str, object]
"""An event's typed values by field name (absent optional fields are missing, not None)."""


@dataclass(frozen=True, slots=True)
class EventRule:
    """A rule across fields of one event; ``holds`` sees the typed values of a valid event."""

    name: str
    field: str
    description: str
    holds: Callable[[Values], bool]


@dataclass(frozen=True, slots=True)
class ConsentGate:
    """Whose consent, for which purpose, from which source and at which time an event needs."""

    purpose: str = MONITORING_PURPOSE
    subject: str = "person_id"
    time: str = "occurred_at"
    same_source: bool = True  # the consent must be for the event's own source


@dataclass(frozen=True, slots=True)
class EventSpec:
    type: EventType
    category: Category
    description: str
    fields: tuple[EventField, ...]
    rules: tuple[EventRule, ...] = ()
    gate: ConsentGate | None = None
    gate_note: str = ""  # why there is no consent gate, when there is none
    sources: tuple[str, ...] = ()  # the only sources accepted; empty: any provider name

    @property
    def all_fields(self) -> tuple[EventField, ...]:
        return COMMON_FIELDS + self.fields

    def field(self, name: str) -> EventField:
        for item in self.all_fields:
            if item.name == name:
                return item
        raise KeyError(name)


COMMON_FIELDS: tuple[EventField, ...] = (
    EventField(
        "event_id",
        FieldKind.STRING,
        "The sender's unique id for the event; handlers are idempotent on it.",
        max_length=EVENT_ID_LENGTH,
    ),
    EventField(
        "type", FieldKind.ENUM, "The event type, one of those below.", allowed=tuple(EventType)
    ),
    EventField(
        "person_id",
        FieldKind.STRING,
        "The person the event is about: the lender's external id, pseudonymised at the door.",
        max_length=ID_LENGTH,
        pseudonymise=Namespace.PERSON,
    ),
    EventField(
        "occurred_at",
        FieldKind.TIMESTAMP,
        "When it happened, ISO 8601 with an offset (`Z` or `+08:00`); not after the time of receipt.",
    ),
    EventField(
        "source",
        FieldKind.STRING,
        "The platform or provider that reported it; the consent gate checks this source.",
        max_length=SOURCE_LENGTH,
    ),
    EventField(
        "version",
        FieldKind.INT,
        "Contract version of the event.",
        minimum=EVENT_CONTRACT_VERSION,
        maximum=EVENT_CONTRACT_VERSION,
    ),
)

_SOCIAL_GATE = ConsentGate()


def _other_person(description: str) -> EventField:
    return EventField(
        "other_person_id",
        FieldKind.STRING,
        description,
        max_length=ID_LENGTH,
        pseudonymise=Namespace.PERSON,
    )


def _money(name: str, description: str, *, minimum: int = 0, required: bool = True) -> EventField:
    return EventField(name, FieldKind.MONEY, description, required=required, minimum=minimum)


def _count(name: str, description: str, *, minimum: int = 0) -> EventField:
    return EventField(name, FieldKind.INT, description, minimum=minimum)


def _loan_id() -> EventField:
    return EventField(
        "loan_id", FieldKind.STRING, "The loan in servicing.", max_length=LOAN_ID_LENGTH
    )


def _day(when: object) -> date:
    return when.date() if isinstance(when, datetime) else when  # type: ignore[return-value]


_NOT_SELF = EventRule(
    "self_tie",
    "other_person_id",
    "other_person_id must differ from person_id",
    lambda v: v["other_person_id"] != v["person_id"],
)
_PERIOD_ORDER = EventRule(
    "period_order",
    "period_end",
    "period_end must not precede period_start",
    lambda v: v["period_end"] >= v["period_start"],  # type: ignore[operator]
)
_PERIOD_ENDED = EventRule(
    "period_not_after_event",
    "period_end",
    "period_end must not be after the day of occurred_at",
    lambda v: v["period_end"] <= _day(v["occurred_at"]),  # type: ignore[operator]
)
_SERVICING_NOTE = "written by servicing in the same transaction as the posting or end of day"

SPECS: tuple[EventSpec, ...] = (
    EventSpec(
        EventType.TIE_ADDED,
        Category.SOCIAL,
        "The person declared a new relationship on a social source.",
        (
            _other_person("Their new contact."),
            EventField("kind", FieldKind.ENUM, "Kind of tie.", allowed=TIE_KINDS),
        ),
        rules=(_NOT_SELF,),
        gate=_SOCIAL_GATE,
    ),
    EventSpec(
        EventType.TIE_ENDED,
        Category.SOCIAL,
        "A relationship of the person ended (removed, unfollowed, blocked).",
        (
            _other_person("The former contact."),
            EventField("kind", FieldKind.ENUM, "Kind of tie that ended.", allowed=TIE_KINDS),
        ),
        rules=(_NOT_SELF,),
        gate=_SOCIAL_GATE,
    ),
    EventSpec(
        EventType.INTERACTION_BATCH,
        Category.SOCIAL,
        "How many interactions of one kind the person had with another between `period_start` "
        "and `occurred_at`: counts and amounts only, never content.",
        (
            _other_person("The other party."),
            EventField("kind", FieldKind.ENUM, "Kind of interaction.", allowed=INTERACTION_KINDS),
            EventField("period_start", FieldKind.TIMESTAMP, "When the counted period began."),
            _count("count", "Number of interactions in the period.", minimum=1),
            _money(
                "amount",
                "Total in CNY; only for transfer and red_packet, and required for them.",
                required=False,
            ),
        ),
        rules=(
            _NOT_SELF,
            EventRule(
                "period_order",
                "period_start",
                "period_start must not be after occurred_at",
                lambda v: v["period_start"] <= v["occurred_at"],  # type: ignore[operator]
            ),
            EventRule(
                "amount_only_for_transfers",
                "amount",
                "amount is required for transfer and red_packet and forbidden otherwise",
                lambda v: (v["kind"] in MONEY_INTERACTIONS) == ("amount" in v),
            ),
        ),
        gate=_SOCIAL_GATE,
    ),
    EventSpec(
        EventType.ACTIVITY_DAY,
        Category.SOCIAL,
        "The person's activity on a social source over one calendar day.",
        (
            EventField("date", FieldKind.DATE, "The day the figures cover."),
            EventField("active_minutes", FieldKind.INT, "Minutes active.", minimum=0, maximum=1440),
            _count("posts", "Posts made (counted, never read)."),
            _count("logins", "Logins."),
        ),
        rules=(
            EventRule(
                "date_not_after_event",
                "date",
                "date must not be after the day of occurred_at",
                lambda v: v["date"] <= _day(v["occurred_at"]),  # type: ignore[operator]
            ),
        ),
        gate=_SOCIAL_GATE,
    ),
    EventSpec(
        EventType.DEVICE_SEEN,
        Category.SOCIAL,
        "The person used a device; people sharing a device are linked.",
        (
            EventField(
                "device_id",
                FieldKind.STRING,
                "The device's identifier, pseudonymised at the door.",
                max_length=ID_LENGTH,
                pseudonymise=Namespace.DEVICE,
            ),
        ),
        gate=_SOCIAL_GATE,
    ),
    EventSpec(
        EventType.PHONE_CHANGED,
        Category.SOCIAL,
        "The person's phone number changed; people sharing a number are linked.",
        (
            EventField(
                "phone",
                FieldKind.STRING,
                "The new number; pseudonymised at the door by its digits, as ingest does.",
                max_length=PHONE_LENGTH,
                pattern=PHONE_PATTERN,
                pseudonymise=Namespace.PHONE,
            ),
            EventField(
                "previous_phone",
                FieldKind.STRING,
                "The number it replaced, when known; pseudonymised the same way.",
                required=False,
                max_length=PHONE_LENGTH,
                pattern=PHONE_PATTERN,
                pseudonymise=Namespace.PHONE,
            ),
        ),
        gate=_SOCIAL_GATE,
    ),
    EventSpec(
        EventType.EXTERNAL_LOAN_REPORTED,
        Category.FINANCIAL,
        "A credit report shows a loan of the person on another platform, or a new status of one.",
        (
            EventField("lender", FieldKind.STRING, "The other lender.", max_length=LENDER_LENGTH),
            EventField("opened_at", FieldKind.TIMESTAMP, "When the loan was opened."),
            _money("amount", "Loan amount in CNY.", minimum=1),
            EventField(
                "status", FieldKind.ENUM, "Status reported.", allowed=EXTERNAL_LOAN_STATUSES
            ),
            EventField(
                "max_dpd",
                FieldKind.INT,
                "Worst days past due seen on the loan.",
                minimum=0,
                maximum=36_500,
            ),
        ),
        rules=(
            EventRule(
                "opened_not_after_event",
                "opened_at",
                "opened_at must not be after occurred_at",
                lambda v: v["opened_at"] <= v["occurred_at"],  # type: ignore[operator]
            ),
        ),
        gate_note="a credit report, as `external_loans` in the input contract",
    ),
    EventSpec(
        EventType.CREDIT_INQUIRY,
        Category.FINANCIAL,
        "Another lender inquired about the person's credit (a hard inquiry).",
        (
            EventField("inquirer", FieldKind.STRING, "Who inquired.", max_length=LENDER_LENGTH),
            EventField("reason", FieldKind.ENUM, "Why they inquired.", allowed=INQUIRY_REASONS),
        ),
        gate_note="a credit report, as `external_loans` in the input contract",
    ),
    EventSpec(
        EventType.INCOME_SUMMARY,
        Category.FINANCIAL,
        "Income received by the person's account at a provider over a period: a total, "
        "never the transactions.",
        (
            EventField("period_start", FieldKind.DATE, "First day covered."),
            EventField("period_end", FieldKind.DATE, "Last day covered."),
            _money("amount", "Income received in the period, CNY."),
        ),
        rules=(_PERIOD_ORDER, _PERIOD_ENDED),
        gate=_SOCIAL_GATE,
    ),
    EventSpec(
        EventType.TRANSFER_SUMMARY,
        Category.FINANCIAL,
        "Transfers in and out of the person's account at a provider over a period: totals and "
        "counts, never counterparties or notes.",
        (
            EventField("period_start", FieldKind.DATE, "First day covered."),
            EventField("period_end", FieldKind.DATE, "Last day covered."),
            _money("incoming_amount", "Total received, CNY."),
            _count("incoming_count", "Number of transfers received."),
            _money("outgoing_amount", "Total sent, CNY."),
            _count("outgoing_count", "Number of transfers sent."),
        ),
        rules=(_PERIOD_ORDER, _PERIOD_ENDED),
        gate=_SOCIAL_GATE,
    ),
    EventSpec(
        EventType.REPAYMENT_POSTED,
        Category.SERVICING,
        "A repayment was posted to one of the person's loans.",
        (
            _loan_id(),
            EventField(
                "posting_id", FieldKind.STRING, "The posting that applied it.", max_length=100
            ),
            _money("amount", "Amount applied, CNY.", minimum=1),
            _money("remaining_due", "Still due on instalments already due after it, CNY."),
        ),
        gate_note=_SERVICING_NOTE,
        sources=(SERVICING_SOURCE,),
    ),
    EventSpec(
        EventType.INSTALMENT_MISSED,
        Category.SERVICING,
        "An instalment's due date passed without it being paid in full (partly paid counts).",
        (
            _loan_id(),
            _count("instalment", "Sequence number of the instalment, from 1.", minimum=1),
            EventField("due_date", FieldKind.DATE, "Its due date."),
            _money("amount_due", "What was due, CNY.", minimum=1),
            _money("amount_paid", "What had been paid of it by the due date, CNY."),
        ),
        rules=(
            EventRule(
                "paid_below_due",
                "amount_paid",
                "amount_paid must be below amount_due",
                lambda v: v["amount_paid"] < v["amount_due"],  # type: ignore[operator]
            ),
        ),
        gate_note=_SERVICING_NOTE,
        sources=(SERVICING_SOURCE,),
    ),
    EventSpec(
        EventType.DPD_BUCKET_CHANGED,
        Category.SERVICING,
        "A loan moved from one delinquency bucket to another: at end of day as days past due grow, "
        "or with the posting (a payment, a reversal) that cures or reopens its arrears.",
        (
            _loan_id(),
            EventField("from_bucket", FieldKind.ENUM, "Bucket before.", allowed=DPD_BUCKETS),
            EventField("to_bucket", FieldKind.ENUM, "Bucket after.", allowed=DPD_BUCKETS),
            _count("dpd", "Days past due after the change."),
        ),
        rules=(
            EventRule(
                "bucket_changed",
                "to_bucket",
                "to_bucket must differ from from_bucket",
                lambda v: v["to_bucket"] != v["from_bucket"],
            ),
        ),
        gate_note=_SERVICING_NOTE,
        sources=(SERVICING_SOURCE,),
    ),
    EventSpec(
        EventType.LOAN_WRITTEN_OFF,
        Category.SERVICING,
        "A loan of the person was written off.",
        (
            _loan_id(),
            _money("amount", "Balance written off, CNY."),
        ),
        gate_note=_SERVICING_NOTE,
        sources=(SERVICING_SOURCE,),
    ),
)

EVENT_SPECS: dict[str, EventSpec] = {spec.type.value: spec for spec in SPECS}


def event_spec(event_type: str) -> EventSpec:
    """The spec of an event type, or a ``KeyError`` naming the known types."""
    try:
        return EVENT_SPECS[event_type]
    except KeyError:
        raise KeyError(
            f"unknown event type {event_type!r}; the contract has: {', '.join(EVENT_SPECS)}"
        ) from None


@dataclass(frozen=True, slots=True)
class Event:
    """A validated event: the common fields typed, the type's own fields in ``values``.

    ``values`` holds every field the event carried (common ones included) as typed values: money
    in integer fen, dates as ``date``, times as aware UTC ``datetime``; absent optional fields
    are missing from it.
    """

    event_id: str
    type: EventType
    person_id: str
    occurred_at: datetime
    source: str
    version: int
    values: Mapping[str, object]

    @property
    def spec(self) -> EventSpec:
        return EVENT_SPECS[self.type.value]

    @property
    def category(self) -> Category:
        return self.spec.category

    def get(self, name: str, default: object = None) -> object:
        return self.values.get(name, default)
