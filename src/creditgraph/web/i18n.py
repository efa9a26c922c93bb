"""Chinese and English for the workspace: one catalogue of texts, and money, dates and rates in
the reader's locale (Babel's CLDR data, not hand-made formats).

Texts live in ``text/*.toml``, one file per page, each key with ``zh`` and ``en``. A key missing
from the catalogue, or missing one language, is an error when the catalogue loads, so a page
can never show an English fallback to a Chinese reader by accident.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

LANGS = ("zh", "en")
LOCALES = {"zh": "zh_CN", "en": "en_GB"}
CURRENCY = "CNY"


class CatalogueError(ValueError):
    pass


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every text of the workspace: key -> {"zh": ..., "en": ...}."""
    texts: dict[str, dict[str, str]] = {}
    folder = resources.files("creditgraph.web").joinpath("text")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
        for key, value in data.items():
            if key in texts:
                raise CatalogueError(f"text {key!r} is defined twice ({entry.name})")
            if not isinstance(value, dict) or any(not value.get(lang) for lang in LANGS):
                raise CatalogueError(f"text {key!r} in {entry.name} needs both zh and en")
            texts[key] = {lang: str(value[lang]) for lang in LANGS}
    return texts


@dataclass(frozen=True, slots=True)
class Texts:
    """The texts and formats of one language; templates call it as ``t(...)``.

    Times are stored as naive UTC; ``tz`` is the business time zone they are shown in (the
    ``timezone`` setting), so a time reads as the lender's staff live it.
    """

    lang: str
    tz: str = "Asia/Shanghai"

    @property
    def locale(self) -> str:
        return LOCALES[self.lang]

    def __call__(self, key: str, **values: object) -> str:
        try:
            text = catalogue()[key][self.lang]
        except KeyError:
            raise CatalogueError(f"no text {key!r} in the workspace catalogue") from None
        return text.format(**values) if values else text

    def money(self, amount: Decimal | int | str | None, fen: bool = False) -> str:
        """An amount in yuan (or integer ``fen``) as the reader writes money."""
        if amount is None:
            return "–"
        value = Decimal(amount) / 100 if fen else Decimal(str(amount))
        return format_currency(value, CURRENCY, locale=self.locale)

    def number(self, value: int | float | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        fmt = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=fmt, locale=self.locale)

    def percent(self, fraction: float | Decimal | None, digits: int = 1) -> str:
        if fraction is None:
            return "–"
        fmt = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(fraction, format=fmt, locale=self.locale)

    def date(self, value: date | datetime | str | None) -> str:
        if value is None or value == "":
            return "–"
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        if isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            value = aware.astimezone(ZoneInfo(self.tz)).date()
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: datetime | str | None) -> str:
        if value is None or value == "":
            return "–"
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value, format="medium", tzinfo=ZoneInfo(self.tz), locale=self.locale)

    def label(self, kind: str, value: str | None) -> str:
        """A value the data carries (``segment``, ``region``) in the reader's language; a value
        the catalogue does not know yet is shown as it is stored."""
        if value is None or value == "":
            return "–"
        found = catalogue().get(f"{kind}.{value}")
        return found[self.lang] if found else value

    def pick(self, zh: str | None, en: str | None) -> str:
        """One of a pair of texts that came with the data (a reason, an error)."""
        return (zh if self.lang == "zh" else en) or zh or en or ""


def texts(lang: str, tz: str = "Asia/Shanghai") -> Texts:
    return Texts(lang if lang in LANGS else "zh", tz)
