"""Prefixed random identifiers: ``u_``, ``org_``, ``key_`` and the rest of API.md's list.

An id is its prefix, an underscore and 24 base62 characters drawn from ``secrets`` (about 143 bits),
so ids are opaque, unguessable and say what they name. They are stored as they are shown.
"""

import secrets
import string

BASE62_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_PART_LENGTH = 24


def random_base62(length: int) -> str:
    """``length`` uniformly random base62 characters, from one draw of ``secrets``."""
    return encode_base62(secrets.randbelow(62**length), width=length)


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(RANDOM_PART_LENGTH)}"


def encode_base62(number: int, *, width: int) -> str:
    """Encodes a non-negative integer in base62, left-padded with zeros to ``width`` characters."""
    if number < 0:
        raise ValueError("only non-negative integers have a base62 form")
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(BASE62_ALPHABET[remainder])
    encoded = "".join(reversed(digits)) or "0"
    if len(encoded) > width:
        raise ValueError(f"{number} does not fit in {width} base62 characters")
    return encoded.rjust(width, "0")


class PublicIdConverter:
    """``<id:name>`` in URL patterns: letters, digits and underscores, as every public id is. Anything
    else (a NUL byte, a slash) never reaches a view or the database."""

    regex = "[A-Za-z0-9_]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
