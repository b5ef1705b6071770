from django import template

from core.money import format_usd, format_usd_exact

register = template.Library()


@register.filter
def usd(amount) -> str:
    """An exact amount with 2 to 6 decimals: 20.00, 0.000150."""
    return "" if amount is None else format_usd_exact(amount)


@register.filter
def cents(amount) -> str:
    return "" if amount is None else format_usd(amount)
