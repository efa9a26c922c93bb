"""The workspace's words and formats: both languages for every text, money from fen without
floats, dates and times in the business time zone and the reader's locale."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from creditgraph.web.i18n import CatalogueError, catalogue, texts


def test_every_text_has_both_languages() -> None:
    for key, value in catalogue().items():
        assert value["zh"] and value["en"], key


def test_an_unknown_key_is_an_error_not_a_fallback() -> None:
    with pytest.raises(CatalogueError):
        texts("en")("no.such.key")


def test_money_from_fen_is_exact_in_both_locales() -> None:
    assert texts("zh").money(123456789, fen=True) == "¥1,234,567.89"
    assert texts("en").money(123456789, fen=True) == "CN¥1,234,567.89"
    # a float would print 0.30000000000000004 somewhere; Decimal keeps the fen
    assert texts("zh").money(Decimal("0.1") + Decimal("0.2")) == "¥0.30"
    assert texts("en").money(None) == "–"


def test_times_are_shown_in_the_business_time_zone() -> None:
    stored = datetime(2026, 6, 30, 16, 30)  # naive UTC, as the database keeps it
    assert "2026年7月1日 00:30:00" in texts("zh", "Asia/Shanghai").datetime(stored)
    assert texts("en", "Asia/Shanghai").date(stored) == "1 Jul 2026"
    assert texts("en", "UTC").date(stored) == "30 Jun 2026"
    assert texts("en").date(date(2026, 6, 30)) == "30 Jun 2026"


def test_percentages_and_numbers_follow_the_locale() -> None:
    assert texts("en").percent(0.0644, 2) == "6.44%"
    assert texts("zh").number(1234567) == "1,234,567"


def test_segments_and_regions_read_in_the_readers_language() -> None:
    from creditgraph.contracts.schema import REGION_TIERS, SEGMENTS

    # every value the data contract allows has its words in both languages
    for segment in SEGMENTS:
        assert f"segment.{segment}" in catalogue(), segment
    for tier in REGION_TIERS:
        assert f"region.{tier}" in catalogue(), tier
    assert texts("zh").label("segment", "farmer") == "农户"
    assert texts("en").label("region", "rural") == "rural"
    assert texts("en").label("segment", "a_new_segment") == "a_new_segment"
    assert texts("zh").label("segment", None) == "–"
