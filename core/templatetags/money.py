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


@register.filter
def dollars(amount) -> str:
    """An exact amount with its sign and ``$``: $20.00, -$0.000150 (for balances, which can be owed)."""
    if amount is None:
        return ""
    text = format_usd_exact(amount)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


@register.filter
def signed_dollars(amount) -> str:
    """A movement of money, always signed: +$20.00 for money in, -$0.000150 for money out."""
    if amount is None:
        return ""
    text = format_usd_exact(amount)
    if text.startswith("-"):
        return f"-${text[1:]}"
    return f"+${text}" if amount else f"${text}"
