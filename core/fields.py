from decimal import Decimal
from functools import partial

from django.db import models

from .ids import RANDOM_PART_LENGTH, new_id
from .money import from_micros, to_micros


class PublicIdField(models.CharField):
    """A primary key holding a prefixed random id (``org_3kTq...``), generated on creation."""

    def __init__(self, *args, prefix: str, **kwargs):
        self.prefix = prefix
        kwargs.setdefault("max_length", len(prefix) + 1 + RANDOM_PART_LENGTH)
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        kwargs["default"] = partial(new_id, prefix)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        kwargs.pop("default", None)
        return name, path, args, kwargs


class MicroDollarField(models.BigIntegerField):
    """US dollars, exact to the micro-dollar: ``Decimal`` in Python, an integer number of
    micro-dollars in the database.

    Integers keep sums exact on every database (SQLite would otherwise store decimals as floating
    point), and ``SUM``, ``F() + n`` and comparisons all work on them directly. An amount with more
    than 6 decimals cannot be stored (core.money.to_micros refuses it).
    """

    def from_db_value(self, value, expression, connection):
        return None if value is None else from_micros(int(value))

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("Money is never a float.")
        return to_micros(Decimal(value))

    def formfield(self, **kwargs):
        from django import forms

        kwargs.pop("form_class", None)
        # Field's own formfield, not the integer one: the form shows dollars, not micro-dollars.
        return models.Field.formfield(
            self, form_class=forms.DecimalField, **{"max_digits": 18, "decimal_places": 6, **kwargs}
        )

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return "" if value is None else f"{value:f}"
