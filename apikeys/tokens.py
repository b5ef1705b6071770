"""The API key format: ``nx_`` + 32 random base62 characters + a 6-character base62 CRC32 checksum.

The checksum lets a typo or a truncated paste be refused without touching the database, and lets
secret scanners recognise a real key. Only the SHA-256 of a key is ever stored.
"""

import hashlib
import re
import zlib

from core.ids import BASE62_ALPHABET, encode_base62, random_base62

PREFIX = "nx_"
BODY_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH
_SHAPE = re.compile(rf"^nx_[{re.escape(BASE62_ALPHABET)}]{{{BODY_LENGTH + CHECKSUM_LENGTH}}}$")


def _checksum(body: str) -> str:
    return encode_base62(zlib.crc32(body.encode("ascii")), width=CHECKSUM_LENGTH)


def generate() -> str:
    body = random_base62(BODY_LENGTH)
    return f"{PREFIX}{body}{_checksum(body)}"


def is_well_formed(key: str) -> bool:
    """Shape and checksum only: no database, no timing that depends on stored keys."""
    if len(key) != KEY_LENGTH or not _SHAPE.match(key):
        return False
    body = key[len(PREFIX) : len(PREFIX) + BODY_LENGTH]
    return key[-CHECKSUM_LENGTH:] == _checksum(body)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def display_parts(key: str) -> tuple[str, str]:
    """What may be shown of a key: its first 7 characters (``nx_AbCd``) and its last four."""
    return key[: len(PREFIX) + 4], key[-4:]
