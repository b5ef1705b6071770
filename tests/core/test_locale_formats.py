"""Numbers, dates and money on pages in Simplified Chinese: numbers grouped as Chinese readers
expect, dates in Chinese, money exact to its last decimal, never through a float."""

from datetime import date
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation


def render(source: str, **context) -> str:
    return Template("{% load humanize money %}" + source).render(Context(context))


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_it_keeps_every_decimal_of_money(language):
    with translation.override(language):
        assert render("{{ amount|dollars }}", amount=Decimal("1234.000150")) == "$1234.00015"
        assert render("{{ amount|usd }}", amount=Decimal("0.1")) == "0.10"
        assert render("{{ amount|signed_dollars }}", amount=Decimal("-0.000001")) == "-$0.000001"
        # A sum that a float would get wrong (0.1 + 0.2 = 0.30000000000000004) stays exact.
        assert render("{{ amount|dollars }}", amount=Decimal("0.1") + Decimal("0.2")) == "$0.30"


def test_it_groups_large_numbers_in_chinese_as_in_english():
    with translation.override("zh-hans"):
        assert render("{{ tokens|intcomma }}", tokens=1234567) == "1,234,567"
    with translation.override("en"):
        assert render("{{ tokens|intcomma }}", tokens=1234567) == "1,234,567"


def test_it_writes_dates_in_chinese():
    with translation.override("zh-hans"):
        assert render("{{ day|date }}", day=date(2026, 12, 6)) == "2026年12月6日"
        assert render('{{ day|date:"t F" }}', day=date(2026, 12, 6)) == "31 十二月"
    with translation.override("en"):
        assert render("{{ day|date }}", day=date(2026, 12, 6)) == "Dec. 6, 2026"
