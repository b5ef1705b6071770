from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def tokens(count) -> str:
    """A token count in the short form model pages use: 8K, 128K, 1M, 1.05M."""
    if count is None:
        return ""
    if count >= 1_000_000:
        return f"{Decimal(count) / 1_000_000:.2f}".rstrip("0").rstrip(".") + "M"
    if count >= 1_000:
        return f"{Decimal(count) / 1_000:.1f}".removesuffix(".0") + "K"
    return str(count)


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
