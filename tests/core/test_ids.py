import re

from core.ids import encode_base62, new_id


def test_it_makes_prefixed_random_ids():
    ids = {new_id("conv") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"conv_[0-9A-Za-z]{24}", value) for value in ids)


def test_it_encodes_base62_with_padding():
    assert encode_base62(0, width=6) == "000000"
    assert encode_base62(61, width=2) == "0z"
    assert encode_base62(62, width=2) == "10"
    assert encode_base62(2**32 - 1, width=6) == "4gfFC3"
