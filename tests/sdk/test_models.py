"""`client.models.list()` and `client.models.retrieve(id)` live against the console with the loopback
provider (their wire format is tested in test_client.py)."""

import pytest
from nexevo import Nexevo, NotFoundError

from gateway.services import providers_load
from tests.billing.helpers import credit
from tests.conftest import make_user, new_key
from tests.gateway.conftest import catalog_for


def test_it_lists_and_retrieves_as_the_routing_policy_allows(live_server, transactional_db, fake_upstream):
    providers_load(catalog_for(fake_upstream))
    user = make_user("modeller@example.com")
    api_key, full_key = new_key(user)
    credit(api_key.organization, "1.00")
    client = Nexevo(api_key=full_key, base_url=live_server.url)
    cn_only = Nexevo(
        api_key=client.keys.create(name="cn", routing_policy="cn-only")["full_key"], base_url=live_server.url
    )

    every = {model["id"] for model in client.models.list()["data"]}
    in_china = {model["id"] for model in cn_only.models.list()["data"]}
    retrieved = client.models.retrieve("west/chat-a")

    assert {"nexevo/fast", "nexevo/balanced", "west/chat-a", "east/chat-c"} <= every
    assert "east/chat-c" in in_china and "west/chat-a" not in in_china
    assert (retrieved["id"], retrieved["object"], retrieved["owned_by"]) == ("west/chat-a", "model", "west")
    with pytest.raises(NotFoundError):
        cn_only.models.retrieve("west/chat-a")
