"""The consent texts a person is shown, versioned, and the hash that proves which one they saw.

The texts are packaged configuration (``privacy/consent_texts.toml``): one entry per version and
purpose, in Chinese and English, saying whether it asks separately for sensitive personal
information. A consent stores its text version and the SHA-256 of the canonical text, so a
receipt names exactly the words agreed to even after the wording moved on. The hash is over the
canonical JSON of ``{"en": ..., "zh": ...}`` with each text NFC-normalised and stripped: the
same words always give the same hash, whatever the file's layout.
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from creditgraph.canonical import sha256_of
from creditgraph.contracts.schema import PURPOSES

PACKAGED_NAME = "consent_texts.toml"


class ConsentTextError(ValueError):
    """The consent-text configuration is broken (a missing text, an unknown purpose)."""


@dataclass(frozen=True, slots=True)
class ConsentText:
    version: str
    purpose: str
    zh: str
    en: str
    sensitive: bool
    """Whether this text asks separately for sensitive personal information (PIPL Art. 29)."""
    valid_from: datetime
    retired_at: datetime | None
    sha256: str

    def in_force(self, at: datetime) -> bool:
        """Whether a new consent given at ``at`` may use this text."""
        return self.valid_from <= at and (self.retired_at is None or at < self.retired_at)


@dataclass(frozen=True)
class ConsentTexts:
    texts: dict[tuple[str, str], ConsentText]
    purge_after: timedelta
    """How long after a revocation the revoked source's rows are purged (the job's due date)."""

    def get(self, version: str, purpose: str) -> ConsentText | None:
        return self.texts.get((version, purpose))

    def versions(self) -> list[str]:
        return sorted({v for v, _ in self.texts})

    def current(self, purpose: str, at: datetime) -> ConsentText | None:
        """The newest text of ``purpose`` in force at ``at``."""
        live = [t for t in self.texts.values() if t.purpose == purpose and t.in_force(at)]
        return max(live, key=lambda t: t.valid_from, default=None)

    def sha256(self, version: str, purpose: str) -> str | None:
        text = self.get(version, purpose)
        return None if text is None else text.sha256

    def for_grant(
        self, version: str | None, purpose: str, sensitive: bool, granted_at: datetime
    ) -> ConsentText | TextRefusal:
        """The text a consent given at ``granted_at`` rests on (``version``, or the one in force
        then), or why it cannot back it. One rule for every way a consent arrives (the API, the
        CLI and the lender's feed): a known text of that purpose, in force when the consent was
        given, asking separately for sensitive information when the consent covers it."""
        text = self.get(version, purpose) if version else self.current(purpose, granted_at)
        if text is None:
            return TextRefusal(
                "text_version",
                "unknown_text_version",
                f"text_version: no consent text of this version for purpose {purpose} "
                f"(known versions: {', '.join(self.versions())})",
                f"text_version：该目的（{purpose}）没有此版本的同意文本",
            )
        if not text.in_force(granted_at):
            return TextRefusal(
                "text_version",
                "text_not_in_force",
                f"text_version: version {text.version} was not in force at granted_at "
                "(retired, or not yet valid); show the person the current text",
                f"text_version：版本 {text.version} 在同意时间不在有效期内（已停用或尚未生效），"
                "请使用现行文本",
            )
        if sensitive and not text.sensitive:
            return TextRefusal(
                "sensitive",
                "text_not_sensitive",
                f"sensitive: text version {text.version} for {purpose} does not ask separately "
                "for sensitive personal information, so it cannot back a sensitive consent",
                f"sensitive：{purpose} 的文本版本 {text.version} 未单独征求敏感个人信息同意，"
                "不能用于敏感同意",
            )
        return text


@dataclass(frozen=True, slots=True)
class TextRefusal:
    """Why a text cannot back a consent: the field at fault, the rule's name, en and zh."""

    field: str
    rule: str
    en: str
    zh: str


def text_sha256(zh: str, en: str) -> str:
    """SHA-256 of the canonical zh+en text."""
    return sha256_of({"en": _norm(en), "zh": _norm(zh)})


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, datetime):
        raise ConsentTextError(f"{where}: expected a date-time")
    return value.replace(tzinfo=None)


def parse_consent_texts(data: dict[str, Any]) -> ConsentTexts:
    """The texts from the parsed TOML, every rule checked up front."""
    texts: dict[tuple[str, str], ConsentText] = {}
    for entry in data.get("version", []):
        version = str(entry.get("id", "")).strip()
        if not version:
            raise ConsentTextError("consent texts: a version has no id")
        valid_from = _time(entry.get("valid_from"), f"version {version}: valid_from")
        retired = entry.get("retired_at")
        retired_at = None if retired is None else _time(retired, f"version {version}: retired_at")
        if retired_at is not None and retired_at <= valid_from:
            raise ConsentTextError(f"version {version}: retired_at must be after valid_from")
        for purpose, body in entry.get("purpose", {}).items():
            where = f"version {version}, purpose {purpose}"
            if purpose not in PURPOSES:
                raise ConsentTextError(f"{where}: unknown purpose")
            if (version, purpose) in texts:
                raise ConsentTextError(f"{where}: defined twice")
            zh, en = body.get("zh"), body.get("en")
            if (
                not isinstance(zh, str)
                or not isinstance(en, str)
                or not zh.strip()
                or not en.strip()
            ):
                raise ConsentTextError(f"{where}: needs a Chinese (zh) and an English (en) text")
            texts[(version, purpose)] = ConsentText(
                version=version,
                purpose=purpose,
                zh=_norm(zh),
                en=_norm(en),
                sensitive=bool(body.get("sensitive", False)),
                valid_from=valid_from,
                retired_at=retired_at,
                sha256=text_sha256(zh, en),
            )
    days = data.get("revocation", {}).get("purge_after_days", 30)
    if not isinstance(days, int) or days < 0:
        raise ConsentTextError("revocation.purge_after_days must be a whole number of days >= 0")
    return ConsentTexts(texts, timedelta(days=days))


@cache
def consent_texts() -> ConsentTexts:
    """The packaged consent texts, read once per process."""
    raw = resources.files("creditgraph.privacy").joinpath(PACKAGED_NAME).read_text("utf-8")
    try:
        return parse_consent_texts(tomllib.loads(raw))
    except tomllib.TOMLDecodeError as exc:
        raise ConsentTextError(f"packaged {PACKAGED_NAME} is not valid TOML: {exc}") from None
