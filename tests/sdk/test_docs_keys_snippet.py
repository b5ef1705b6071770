"""The product docs' "API key management" snippet, verbatim, through the client, live."""

from nexevo import Nexevo

from apikeys.models import ApiKey
from tests.conftest import make_user, new_key


def test_the_key_snippet_runs_verbatim(live_server, transactional_db, dns, capsys):
    dns["your-app.com"] = None  # as on a machine without DNS: saving accepts a host that does not resolve
    user = make_user("jane@example.com")
    _key, full_key = new_key(user)
    client = Nexevo(api_key=full_key, base_url=live_server.url)

    # --- from the product docs ---
    new = client.keys.create(name="prod-2026")
    print(new["full_key"])  # 只此一次显示
    client.keys.update_spend_cap(
        new["key"]["key_id"],
        monthly_spend_cap_usd="100",
    )
    client.keys.update_alert_webhook(
        new["key"]["key_id"],
        url="https://your-app.com/billing-alert",
    )
    # --- end ---

    assert capsys.readouterr().out.strip() == new["full_key"]
    assert new["full_key"].startswith("nx_")
    key = client.keys.get(new["key"]["key_id"])
    assert key["monthly_spend_cap_usd"] == "100.00"
    assert key["alert_webhook_url"] == "https://your-app.com/billing-alert"
    assert key["alert_thresholds_pct"] == [80, 100]
    assert ApiKey.objects.get(pk=key["key_id"]).webhook_secret.startswith("whsec_")
    with Nexevo(api_key=new["full_key"], base_url=live_server.url) as created:
        assert created.auth.me()["user_id"] == user.id
