from decimal import Decimal

import pytest

from core.money import MoneyError, format_usd, from_micros, parse_usd, quantize, to_micros


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("100", Decimal("100.00")),
        ("0.01", Decimal("0.01")),
        (" 20.5 ", Decimal("20.50")),
        (20, Decimal("20.00")),
        (Decimal("1.2"), Decimal("1.20")),
    ],
)
def test_it_parses_exact_amounts(given, expected):
    assert parse_usd(given) == expected
    assert str(parse_usd(given)) == str(expected)


@pytest.mark.parametrize(
    "given", ["abc", "-1", "0", "1.234", "NaN", "Infinity", "1e999", "", 1.5, True, None, [], "1" * 40]
)
def test_it_refuses_what_is_not_an_amount(given):
    with pytest.raises(MoneyError):
        parse_usd(given)


def test_it_allows_more_places_when_asked():
    assert parse_usd("0.000150", places=6) == Decimal("0.000150")
    with pytest.raises(MoneyError):
        parse_usd("0.0000001", places=6)


def test_it_enforces_minimum_and_maximum_with_their_own_codes():
    with pytest.raises(MoneyError) as small:
        parse_usd("1", minimum=Decimal("5"))
    with pytest.raises(MoneyError) as large:
        parse_usd("20000", maximum=Decimal("10000"))
    assert (small.value.code, large.value.code) == ("amount_too_small", "amount_too_large")


def test_it_rounds_half_to_even_once():
    assert quantize(Decimal("0.125")) == Decimal("0.12")
    assert quantize(Decimal("0.135")) == Decimal("0.14")
    assert quantize(Decimal("0.0000005"), 6) == Decimal("0.000000")


def test_it_formats_as_a_plain_decimal_string():
    assert format_usd(Decimal("100")) == "100.00"
    assert format_usd(Decimal("1E+2")) == "100.00"
    assert format_usd(Decimal("0.00015"), 6) == "0.000150"


def test_it_converts_micro_dollars_exactly():
    assert to_micros(Decimal("1.000001")) == 1_000_001
    assert from_micros(1_000_001) == Decimal("1.000001")
    with pytest.raises(MoneyError):
        to_micros(Decimal("0.0000001"))


def test_it_reads_negative_zero_as_zero():
    assert str(parse_usd("-0", allow_zero=True)) == "0.00"
