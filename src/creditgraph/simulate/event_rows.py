"""Contract tables of the simulated world as monitoring events (event contract v1), row by row.

Each function turns one table (as the simulator generates it, raw identifiers and all) into the
events a lender's sources would have sent over a window ``[start, end)`` of epoch seconds. The
stream and the tables describe one world, so replaying the stream up to an instant gives the
figures a feature build computes from the tables as of that instant:

- a tie row is a ``tie_added`` at ``created_at`` and, when it ends, a ``tie_ended`` at
  ``ended_at`` (declared by ``src``, about ``dst``);
- an interaction row is one ``interaction_batch`` of ``src`` with ``dst``, reported at the row's
  ``ts`` (the tables date a month's interactions at its start, and so does the stream);
- an activity row is an ``activity_day`` reported in the last second of its (UTC) day;
- a device row is a ``device_seen`` when first and when last seen;
- every report of a loan elsewhere is an ``external_loan_reported`` at its ``reported_at``
  (undated reports are left out: the ingest dates them on arrival), preceded by the opening
  lender's ``credit_inquiry``;
- a person's phone number is a ``phone_changed`` when their data begins;
- incoming and outgoing money of the interactions is also summed per person, source and UTC day
  into ``transfer_summary`` events, and monthly income into ``income_summary``.

An event is a plain dict of JSON values: times ISO 8601 in UTC, money decimal text in yuan.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from creditgraph.simulate.clock import DAY

Event = dict[str, Any]
Keyed = tuple[int, str, Event]  # (occurred_at in epoch seconds, event_id, event)

EVENT_CONTRACT_VERSION = 1
"""The event contract the stream follows (``monitoring.events``, kept equal by a test: the
simulator sits below monitoring and does not import it)."""
SERVICING_SOURCE = "servicing"
"""The only source of servicing's own events (``monitoring.events.SERVICING_SOURCE``)."""
BUREAU_SOURCE = "credit_bureau"
"""Who reports loans and inquiries elsewhere: a credit report, not a social source."""
ACCOUNT_SOURCE = "wechat"
"""The provider of income and transfer summaries (its pay wallet), so its consent applies."""
PHONE_SOURCE = "app"


def iso(seconds: int) -> str:
    """Epoch seconds as ISO 8601 in UTC (``2026-04-01T08:30:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def day_text(day: int) -> str:
    """Days since 1970-01-01 as an ISO date."""
    return time.strftime("%Y-%m-%d", time.gmtime(int(day) * DAY))


def yuan(fen: int) -> str:
    """Integer fen as decimal text in yuan, exact (``12345`` -> ``123.45``)."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def seconds_of(column: pa.ChunkedArray | pa.Array) -> NDArray[np.int64]:
    """A timestamp column as epoch seconds, -1 for nulls."""
    micros = pc.cast(column, pa.int64())
    return np.asarray(pc.fill_null(micros, -1_000_000).to_numpy(zero_copy_only=False)) // 1_000_000


def strings(column: pa.ChunkedArray | pa.Array) -> list[str]:
    return [str(x) for x in column.to_pylist()]


def fen_of(column: pa.ChunkedArray | pa.Array) -> NDArray[np.int64]:
    """A decimal(18, 2) money column as integer fen (its unscaled value), 0 for nulls.

    Read from the low 64-bit word of each 128-bit value, the inverse of ``columns.money``.
    """
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    low = words[2 * arr.offset : 2 * (arr.offset + len(arr)) : 2].copy()
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return np.where(valid, low, 0).astype(np.int64)


class Stream:
    """Collects keyed events of a window and numbers them by type (``<type>-<n>``)."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = int(start), int(end)
        self.items: list[Keyed] = []
        self._numbers: dict[str, int] = {}

    def inside(self, seconds: NDArray[np.int64]) -> NDArray[np.bool_]:
        return np.asarray((seconds >= self.start) & (seconds < self.end))

    def add(self, at: int, event_type: str, person: str, source: str, **fields: Any) -> None:
        number = self._numbers.get(event_type, 0) + 1
        self._numbers[event_type] = number
        event_id = f"{event_type}-{number:09d}"
        event: Event = {
            "event_id": event_id,
            "type": event_type,
            "person_id": person,
            "occurred_at": iso(at),
            "source": source,
            "version": EVENT_CONTRACT_VERSION,
            **fields,
        }
        self.items.append((int(at), event_id, event))

    def ordered(self) -> Iterator[Event]:
        """The events by ``occurred_at``, then ``event_id``."""
        self.items.sort(key=lambda item: (item[0], item[1]))
        for _, _, event in self.items:
            yield event

    def counts(self) -> dict[str, int]:
        return dict(sorted(self._numbers.items()))


def tie_events(out: Stream, ties: pa.Table) -> None:
    created = seconds_of(ties["created_at"])
    ended = seconds_of(ties["ended_at"])
    keep = out.inside(created) | out.inside(ended)
    if not keep.any():
        return
    rows = ties.filter(pa.array(keep))
    created, ended = created[keep], ended[keep]
    src, dst = strings(rows["src"]), strings(rows["dst"])
    kind, source = strings(rows["kind"]), strings(rows["source"])
    for i in range(rows.num_rows):
        fields = {"other_person_id": dst[i], "kind": kind[i]}
        if out.start <= created[i] < out.end:
            out.add(int(created[i]), "tie_added", src[i], source[i], **fields)
        if out.start <= ended[i] < out.end:
            out.add(int(ended[i]), "tie_ended", src[i], source[i], **fields)


def interaction_events(out: Stream, inter: pa.Table) -> None:
    ts = seconds_of(inter["ts"])
    keep = out.inside(ts)
    if not keep.any():
        return
    rows = inter.filter(pa.array(keep))
    ts = ts[keep]
    src, dst = strings(rows["src"]), strings(rows["dst"])
    kind, source = strings(rows["kind"]), strings(rows["source"])
    count = rows["count"].to_numpy()
    amount = fen_of(rows["amount"])
    has_amount = np.asarray(rows["amount"].is_valid().to_numpy(zero_copy_only=False))
    for i in range(rows.num_rows):
        fields: Event = {
            "other_person_id": dst[i],
            "kind": kind[i],
            "period_start": iso(int(ts[i])),
            "count": int(count[i]),
        }
        if has_amount[i]:
            fields["amount"] = yuan(int(amount[i]))
        out.add(int(ts[i]), "interaction_batch", src[i], source[i], **fields)


def transfer_events(out: Stream, inter: pa.Table) -> None:
    """Money in and out per person, source and UTC day, reported at the day's last transfer."""
    ts = seconds_of(inter["ts"])
    has_amount = np.asarray(inter["amount"].is_valid().to_numpy(zero_copy_only=False))
    keep = out.inside(ts) & has_amount
    if not keep.any():
        return
    rows = inter.filter(pa.array(keep))
    ts = ts[keep]
    amount = fen_of(rows["amount"])
    count = rows["count"].to_numpy()
    src, dst, source = strings(rows["src"]), strings(rows["dst"]), strings(rows["source"])
    sums: dict[tuple[str, str, int], list[int]] = {}
    for i in range(rows.num_rows):
        day = int(ts[i]) // DAY
        for person, side in ((dst[i], 0), (src[i], 2)):
            acc = sums.setdefault((person, source[i], day), [0, 0, 0, 0, 0])
            acc[side] += int(amount[i])
            acc[side + 1] += int(count[i])
            acc[4] = max(acc[4], int(ts[i]))
    for (person, source_name, day), (fen_in, n_in, fen_out, n_out, last) in sorted(sums.items()):
        out.add(
            last,
            "transfer_summary",
            person,
            source_name,
            period_start=day_text(day),
            period_end=day_text(day),
            incoming_amount=yuan(fen_in),
            incoming_count=n_in,
            outgoing_amount=yuan(fen_out),
            outgoing_count=n_out,
        )


def activity_events(out: Stream, activity: pa.Table) -> None:
    days = np.asarray(pc.cast(activity["date"], pa.int32()).to_numpy(), dtype=np.int64)
    at = days * DAY + DAY - 1
    keep = out.inside(at)
    if not keep.any():
        return
    rows = activity.filter(pa.array(keep))
    days, at = days[keep], at[keep]
    person, source = strings(rows["person_id"]), strings(rows["source"])
    minutes, posts = rows["active_minutes"].to_numpy(), rows["posts"].to_numpy()
    logins = rows["logins"].to_numpy()
    for i in range(rows.num_rows):
        out.add(
            int(at[i]),
            "activity_day",
            person[i],
            source[i],
            date=day_text(int(days[i])),
            active_minutes=int(minutes[i]),
            posts=int(posts[i]),
            logins=int(logins[i]),
        )


def device_events(out: Stream, devices: pa.Table) -> None:
    first, last = seconds_of(devices["first_seen"]), seconds_of(devices["last_seen"])
    keep = out.inside(first) | out.inside(last)
    if not keep.any():
        return
    rows = devices.filter(pa.array(keep))
    first, last = first[keep], last[keep]
    person, device = strings(rows["person_id"]), strings(rows["device_id"])
    source = strings(rows["source"])
    for i in range(rows.num_rows):
        for at in sorted({int(first[i]), int(last[i])}):
            if out.start <= at < out.end:
                out.add(at, "device_seen", person[i], source[i], device_id=device[i])


def external_loan_events(out: Stream, loans: pa.Table, rng: np.random.Generator) -> None:
    """Reports of loans elsewhere, and the inquiry each opening lender made a little before.

    ``rng`` draws one lag per report row whatever the window, so a row's inquiry is the same
    instant in every window that holds it.
    """
    reported, opened = seconds_of(loans["reported_at"]), seconds_of(loans["opened_at"])
    lag = rng.integers(3600, 3 * DAY, loans.num_rows)
    status = strings(loans["status"])
    is_open = np.array([s == "open" for s in status], dtype=bool)
    asked = opened - lag
    keep = (out.inside(reported) & (reported >= 0)) | (is_open & out.inside(asked))
    if not keep.any():
        return
    rows = loans.filter(pa.array(keep))
    reported, opened, asked = reported[keep], opened[keep], asked[keep]
    status = [s for s, k in zip(status, keep, strict=True) if k]
    person, lender = strings(rows["person_id"]), strings(rows["lender"])
    amount, dpd = fen_of(rows["amount"]), rows["max_dpd"].to_numpy()
    for i in range(rows.num_rows):
        if status[i] == "open" and out.start <= asked[i] < out.end:
            out.add(
                int(asked[i]),
                "credit_inquiry",
                person[i],
                BUREAU_SOURCE,
                inquirer=lender[i],
                reason="loan_application",
            )
        if reported[i] >= 0 and out.start <= reported[i] < out.end:
            out.add(
                int(reported[i]),
                "external_loan_reported",
                person[i],
                BUREAU_SOURCE,
                lender=lender[i],
                opened_at=iso(int(opened[i])),
                amount=yuan(int(amount[i])),
                status=status[i],
                max_dpd=int(dpd[i]),
            )


def phone_events(
    out: Stream, person_ids: list[str], phone: NDArray[np.int64], data_start: NDArray[np.int64]
) -> None:
    """A person's number as first seen when their data begins (ring members share numbers)."""
    for i in np.flatnonzero(out.inside(data_start) & (phone >= 0)).tolist():
        out.add(
            int(data_start[i]), "phone_changed", person_ids[i], PHONE_SOURCE, phone=str(phone[i])
        )


def income_events(
    out: Stream,
    person_ids: list[str],
    monthly_fen: NDArray[np.float64],
    data_start: NDArray[np.int64],
    month_starts: NDArray[np.int64],
) -> None:
    """One ``income_summary`` per person and calendar month, sent on the next month's first day.

    ``monthly_fen``: shape (people, months), the income each month (shocks already applied).
    """
    for m in range(len(month_starts) - 1):
        begin, stop = int(month_starts[m]), int(month_starts[m + 1])
        at = stop + 2 * 3600
        if not out.start <= at < out.end:
            continue
        first, last = day_text(begin // DAY), day_text(stop // DAY - 1)
        for i in np.flatnonzero(data_start < begin).tolist():
            out.add(
                at,
                "income_summary",
                person_ids[i],
                ACCOUNT_SOURCE,
                period_start=first,
                period_end=last,
                amount=yuan(int(monthly_fen[i, m])),
            )
