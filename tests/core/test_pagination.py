from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from core.errors import ServiceError
from core.pagination import paginate, parse_limit
from tests.conftest import new_key


@pytest.fixture
def twenty_five_keys(alice):
    keys = [new_key(alice, name=f"key {index}")[0] for index in range(25)]
    # Several keys share a creation time, so the id has to break the tie.
    base = timezone.now()
    for index, key in enumerate(keys):
        ApiKey.objects.filter(pk=key.pk).update(created_at=base - timedelta(seconds=index // 3))
    return ApiKey.objects.filter(created_by=alice)


def test_it_walks_every_row_once_in_order(twenty_five_keys):
    seen, cursor = [], None
    while True:
        page = paginate(twenty_five_keys, ordering=("-created_at", "-id"), limit=10, cursor=cursor)
        seen.extend(page.items)
        if not page.has_more:
            assert page.next_cursor is None
            break
        cursor = page.next_cursor
    expected = list(twenty_five_keys.order_by("-created_at", "-id"))
    assert seen == expected
    assert len(seen) == 25


def test_it_is_stable_when_rows_are_inserted_between_pages(twenty_five_keys, alice):
    first = paginate(twenty_five_keys, ordering=("-created_at", "-id"), limit=10, cursor=None)
    new_key(alice, name="inserted meanwhile")
    second = paginate(
        twenty_five_keys.all(), ordering=("-created_at", "-id"), limit=10, cursor=first.next_cursor
    )
    assert not set(first.items) & set(second.items)
    assert "inserted meanwhile" not in [key.name for key in second.items]


def test_it_sorts_ascending_too(twenty_five_keys):
    page = paginate(twenty_five_keys, ordering=("created_at", "id"), limit=5, cursor=None)
    rest = paginate(twenty_five_keys, ordering=("created_at", "id"), limit=100, cursor=page.next_cursor)
    assert page.items + rest.items == list(twenty_five_keys.order_by("created_at", "id"))


@pytest.mark.parametrize("cursor", ["garbage!", "e30", "WyJ4Il0", "W1tdLFtdXQ", "x" * 600])
def test_it_refuses_a_cursor_it_did_not_give_out(twenty_five_keys, cursor):
    with pytest.raises(ServiceError) as error:
        paginate(twenty_five_keys, ordering=("-created_at", "-id"), limit=10, cursor=cursor)
    assert error.value.code == "invalid_cursor"


@pytest.mark.parametrize("raw", ["0", "101", "-1", "abc", "1.5"])
def test_it_refuses_a_limit_out_of_range(raw):
    with pytest.raises(ServiceError) as error:
        parse_limit(raw)
    assert error.value.param == "limit"


def test_it_defaults_the_limit():
    assert parse_limit(None) == 20
    assert parse_limit("100") == 100


@pytest.mark.parametrize("values", [[1, "key_x"], [True, "key_x"], [None, "key_x"], ["2026-13-45", "key_x"]])
def test_it_refuses_a_forged_cursor_of_the_right_shape(twenty_five_keys, values):
    import base64
    import json

    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    with pytest.raises(ServiceError) as error:
        paginate(twenty_five_keys, ordering=("-created_at", "-id"), limit=10, cursor=cursor)
    assert error.value.code == "invalid_cursor"
