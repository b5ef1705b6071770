from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


def _short(count: int, unit: int, places: str) -> str:
    """``count`` over ``unit`` to ``places`` decimals, halves up, without trailing zeros."""
    value = (Decimal(count) / unit).quantize(Decimal(places), rounding=ROUND_HALF_UP)
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def tokens(count) -> str:
    """A token count in the short form model pages use: 8.2K, 131K, 1M, 1.05M; exact decimal
    arithmetic, halves rounded up (12,500 → 13K), and 999,500 and up in millions."""
    if count is None:
        return ""
    if count >= 999_500:
        return _short(count, 1_000_000, "0.01") + "M"
    if count >= 9_950:
        return _short(count, 1_000, "1") + "K"
    if count >= 1_000:
        return _short(count, 1_000, "0.1") + "K"
    return str(count)


@register.filter
def at_least(count) -> str:
    """A count published as the floor of its bucket, as the pages show it: 20+, 1,000+."""
    if count is None:
        return ""
    return f"{intcomma(count)}+"


@register.filter
def percent(fraction) -> str:
    """A fraction (0.875) as a percentage to at most one decimal (87.5%)."""
    if fraction is None:
        return ""
    value = (Decimal(fraction) * 100).quantize(Decimal("0.1"))
    return f"{value:f}".removesuffix(".0") + "%"


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key, "") if mapping else ""


@register.filter
def region_label(value: str) -> str:
    from gateway.models import Region

    return Region(value).label if value in Region.values else (value or "")
