"""The log guard: every log record of every test run is read, and personal values fail the test.

Loaded by ``conftest.py`` as a plugin. A handler on the root logger keeps each record the suite
emits (``creditgraph`` loggers at DEBUG, so nothing of ours is too quiet to be read; libraries at
their own levels); after each test its new records are scanned, and any name, phone number, PRC
resident id number or raw external id found in them fails that test at teardown, naming the
logger and the kind of value but never the value. The logs of real ``creditgraph serve``
subprocesses are scanned the same way (``tests/real_server.py``).

What counts as personal is what our worlds hold: the simulator's names (a surname and a given name
from its vocabulary), mainland mobile numbers, 18-character id numbers whose GB 11643 check digit
is right, and the lender's external ids (``P`` and seven or more digits).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from creditgraph.simulate.population import GIVEN_NAMES
from creditgraph.simulate.vocab import SURNAMES

_SURNAMES = frozenset(SURNAMES)
_GIVEN = frozenset(GIVEN_NAMES)
_EDGE = r"(?<![0-9A-Za-z_])"
_END = r"(?![0-9A-Za-z_])"
_PHONE = re.compile(_EDGE + r"1[3-9]\d{9}" + _END)
_ID_NUMBER = re.compile(_EDGE + r"\d{17}[0-9Xx]" + _END)
_EXTERNAL_ID = re.compile(_EDGE + r"P\d{7,}" + _END)
_NAME = re.compile(r"\b([A-Z][a-z]+) ([A-Z][a-z]+)\b")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Finding:
    kind: str  # name, phone, id_number, external_id
    start: int


def id_number_checks(value: str) -> bool:
    """Whether an 18-character PRC resident id number has the right GB 11643 check digit."""
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def personal_values_in(text: str) -> list[Finding]:
    """Where ``text`` holds a personal value, by kind (the values themselves are not returned)."""
    found = [Finding("phone", m.start()) for m in _PHONE.finditer(text)]
    found += [
        Finding("id_number", m.start())
        for m in _ID_NUMBER.finditer(text)
        if id_number_checks(m.group())
    ]
    found += [Finding("external_id", m.start()) for m in _EXTERNAL_ID.finditer(text)]
    found += [
        Finding("name", m.start())
        for m in _NAME.finditer(text)
        if m.group(1) in _SURNAMES and m.group(2) in _GIVEN
    ]
    return sorted(found, key=lambda f: f.start)


class _Keeper(logging.Handler):
    """Keeps every record's full text (message and traceback) with its logger's name."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []
        self._format = logging.Formatter("%(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append((record.name, self._format.format(record)))
        except Exception:  # a record whose arguments do not format: keep what it says raw
            self.records.append((record.name, f"{record.msg} {record.args}"))


_keeper = _Keeper()
_scanned = 0
_failed: list[str] = []


def describe(findings: list[Finding], where: str) -> str:
    kinds = sorted({f.kind for f in findings})
    return f"{where} holds personal data ({', '.join(kinds)}); logs must never carry it"


def check_text(text: str, where: str) -> None:
    """Fail the running test if ``text`` (a server's log file, say) holds a personal value."""
    findings = personal_values_in(text)
    if findings:
        _failed.append(where)
        pytest.fail(describe(findings, where), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_keeper)
    logging.getLogger("creditgraph").setLevel(logging.DEBUG)


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(_keeper)


@pytest.fixture(autouse=True)
def no_personal_data_in_logs() -> Iterator[None]:
    """After each test, its log records are read; a personal value in any of them fails it."""
    global _scanned
    start = len(_keeper.records)
    yield
    new = _keeper.records[start:]
    del _keeper.records[start:]
    _scanned += len(new)
    offenders = sorted({name for name, text in new if personal_values_in(text)})
    if offenders:
        findings = [f for _, text in new for f in personal_values_in(text)]
        _failed.append(", ".join(offenders))
        pytest.fail(describe(findings, f"the log of {', '.join(offenders)}"), pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under xdist a worker reads its tests' logs; it hands its counts to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["log_guard_scanned"] = _scanned
        output["log_guard_failed"] = list(_failed)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """The controller adds up what each xdist worker read (a hook only xdist calls)."""
    global _scanned
    output = getattr(node, "workeroutput", {})
    _scanned += int(output.get("log_guard_scanned", 0))
    _failed.extend(output.get("log_guard_failed", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _failed:
        terminalreporter.write_line(
            f"log guard: {_scanned} log records read; personal data in the logs of "
            f"{len(_failed)} test(s): {'; '.join(sorted(set(_failed)))}",
            red=True,
        )
        return
    terminalreporter.write_line(
        f"log guard: {_scanned} log records read, none with a name, phone number, id number "
        "or external id"
    )
