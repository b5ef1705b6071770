"""Money: the one place that parses, rounds and formats amounts.

Amounts are US dollars held as ``Decimal`` in code and in the database, or as integer micro-dollars
(millionths of a dollar) where a counter has to be an integer (Redis). A ``float`` never holds money:
JSON bodies are parsed with ``parse_float=Decimal`` (see ``core.parsers``) and ``parse_usd`` refuses
a float outright.

Precision, decided once:

* balances, caps, top-ups and fees carry 2 decimal places (cents);
* per-request costs carry up to 6 (micro-dollars), and the ledger stores them at that precision, so
  the sum of the entries is exact and every displayed total re-adds to the cent;
* a computed amount is rounded once, when it is stored, with ``ROUNDING`` (half to even, which does not
  drift upwards or downwards over many small charges). Input is never rounded: an amount with more
  decimals than allowed is refused.
"""

import re
from decimal import ROUND_HALF_EVEN, Decimal

ROUNDING = ROUND_HALF_EVEN
CENTS = 2
MICROS = 6
MICROS_PER_USD = 1_000_000
# No amount the console handles comes near a trillion dollars; refusing larger ones keeps every
# amount inside the database columns and Decimal's default precision.
MAX_INTEGER_DIGITS = 12
# Plain ASCII decimals only: no exponents, no other scripts' digits, no "NaN" or "Infinity".
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]{1,15}(\.[0-9]{1,15})?", re.ASCII)
_EXPONENTS = {places: Decimal(1).scaleb(-places) for places in range(0, MICROS + 1)}

# The wire forms, as the OpenAPI schema states them: what format_usd and format_usd_exact write, and
# the decimal string an input amount of cents may be sent as (a JSON number is accepted too).
CENTS_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"
EXACT_PATTERN = r"^-?[0-9]+\.[0-9]{2,6}$"
CENTS_INPUT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"


class MoneyError(ValueError):
    """An amount that cannot be accepted; ``code`` is the error code the API answers with."""

    def __init__(self, message: str, *, code: str = "invalid_amount"):
        super().__init__(message)
        self.message = message
        self.code = code


def parse_usd(
    value: object,
    *,
    places: int = CENTS,
    allow_zero: bool = False,
    allow_negative: bool = False,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
) -> Decimal:
    """Parses a decimal string, an int or a ``Decimal`` into an exact amount.

    Refuses floats, booleans, non-finite values, exponents that hide more places than ``places``,
    zero unless ``allow_zero``, negatives unless ``allow_negative``, and amounts outside
    ``minimum``..``maximum``.
    """
    if isinstance(value, bool | float):
        raise MoneyError('Send the amount as a decimal string such as "20.00".')
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            raise MoneyError('The amount must be a decimal number such as "20.00".')
        amount = Decimal(text)
    else:
        raise MoneyError('The amount must be a decimal number such as "20.00".')

    if not amount.is_finite():
        raise MoneyError("The amount must be a finite number.")
    if amount == 0:
        amount = abs(amount)  # "-0" is zero, not a negative amount
    if amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise MoneyError("The amount is too large.", code="amount_too_large")
    if amount.as_tuple().exponent < -places:
        raise MoneyError(f"The amount may have at most {places} decimal places.")
    if amount < 0 and not allow_negative:
        raise MoneyError("The amount must not be negative.")
    if amount == 0 and not allow_zero:
        raise MoneyError("The amount must be greater than zero.")
    if minimum is not None and amount < minimum:
        raise MoneyError(f"The amount must be at least {format_usd(minimum)}.", code="amount_too_small")
    if maximum is not None and amount > maximum:
        raise MoneyError(f"The amount must be at most {format_usd(maximum)}.", code="amount_too_large")
    return quantize(amount, places)


def quantize(amount: Decimal, places: int = CENTS) -> Decimal:
    """Rounds ``amount`` to ``places`` decimals with the project's rounding mode."""
    return amount.quantize(_EXPONENTS[places], rounding=ROUNDING)


def format_usd(amount: Decimal, places: int = CENTS) -> str:
    """The wire form of an amount: a plain decimal string with exactly ``places`` decimals."""
    rounded = quantize(amount, places)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0.00"
    return f"{rounded:f}"


def format_usd_exact(amount: Decimal) -> str:
    """An exact amount with 2 to 6 decimals: ``"20.00"``, ``"0.000150"``, ``"-0.0042"``."""
    text = f"{quantize(amount, MICROS):f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(CENTS, "0")
    return f"{whole}.{fraction}"


MAX_MICROS = 2**63 - 1


def to_micros(amount: Decimal) -> int:
    """Converts an amount with at most 6 decimals to integer micro-dollars, exactly."""
    if not amount.is_finite():
        raise MoneyError("The amount must be a finite number.")
    micros = amount * MICROS_PER_USD
    if micros != micros.to_integral_value():
        raise MoneyError("The amount has more than 6 decimal places.")
    if abs(micros) > MAX_MICROS:
        raise MoneyError("The amount is too large.", code="amount_too_large")
    return int(micros)


def from_micros(micros: int) -> Decimal:
    return Decimal(micros).scaleb(-MICROS)
