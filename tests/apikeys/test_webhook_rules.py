"""Alert webhooks go to public HTTPS hosts only (API.md, issue: a table of what is refused)."""

import pytest

from apikeys.models import ApiKey

REFUSED = [
    ("http://hooks.example.com/alert", "https_required"),
    ("https://127.0.0.1/alert", "loopback_address"),
    ("https://[::1]/alert", "loopback_address"),
    ("https://10.0.0.1/alert", "private_address"),
    ("https://192.168.1.20/alert", "private_address"),
    ("https://169.254.169.254/latest/meta-data", "link_local_address"),
    ("https://100.64.0.1/alert", "carrier_grade_nat_address"),
    ("https://224.0.0.1/alert", "multicast_address"),
    ("https://0.0.0.0/alert", "unspecified_address"),
    ("https://[::ffff:127.0.0.1]/alert", "ipv4_mapped_address"),
    ("https://2130706433/alert", "nonstandard_ip"),
    ("https://0177.0.0.1/alert", "nonstandard_ip"),
    ("https://0x7f.0.0.1/alert", "nonstandard_ip"),
    ("https://127.1/alert", "nonstandard_ip"),
    ("https://127.0.0.1./alert", "loopback_address"),
    ("https://user@example.com/alert", "userinfo_not_allowed"),
    ("https://user:pass@example.com/alert", "userinfo_not_allowed"),
    ("https://internal.example.com/alert", "private_address"),  # resolves to 10.1.2.3, below
    ("https://sneaky.example.com/alert", "loopback_address"),  # one of its answers is loopback
    ("https://example.com/" + "a" * 2000, "url_too_long"),
    ("not a url", "invalid_url"),
    ("hooks.example.com/alert", "https_required"),
    ("https://[2002:7f00:1::]/alert", "loopback_address"),  # 6to4 wrapping 127.0.0.1
    ("https://[2002:a9fe:a9fe::]/alert", "link_local_address"),  # 6to4 wrapping 169.254.169.254
    ("https://[64:ff9b::a00:1]/alert", "private_address"),  # NAT64 wrapping 10.0.0.1
    ("https://[fec0::1]/alert", "private_address"),
    ("https://192.0.0.8/alert", "reserved_address"),
    ("https://192.88.99.1/alert", "reserved_address"),
    ("https://[3fff::1]/alert", "reserved_address"),
    ("https://%31%32%37.0.0.1/alert", "invalid_url"),
    ("https://1.1.1.1\n.evil.example/alert", "invalid_url"),
    ("https://hooks example.com/alert", "invalid_url"),
    ("https://hooks.example.com:0/alert", "invalid_url"),
    ("https:///no-host", "invalid_url"),
]


@pytest.fixture
def key_api(api_as, alice_key, dns):
    dns["internal.example.com"] = ["10.1.2.3"]
    dns["sneaky.example.com"] = ["93.184.216.34", "127.0.0.1"]
    dns["hooks.example.com"] = ["93.184.216.34"]
    dns["your-app.com"] = None
    return api_as(alice_key[1]), alice_key[0]


@pytest.mark.parametrize(("url", "code"), REFUSED)
def test_it_refuses_with_the_reason(key_api, url, code):
    client, api_key = key_api
    response = client.post(f"/v1/keys/{api_key.id}/alert-webhook", {"url": url}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, "alert_webhook_url")
    assert error["message"]
    assert ApiKey.objects.get(pk=api_key.pk).alert_webhook_url == ""


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/alert",
        "https://hooks.example.com:8443/alert?team=ops",
        "https://93.184.216.34/alert",
        "https://your-app.com/billing-alert",  # does not resolve yet: accepted, checked again when sent
    ],
)
def test_it_accepts_a_public_https_host(key_api, url):
    client, api_key = key_api
    response = client.post(f"/v1/keys/{api_key.id}/alert-webhook", {"url": url}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["alert_webhook_url"] == url
    assert body["webhook_secret"].startswith("whsec_")


def test_the_secret_survives_an_address_change_and_rotation_keeps_the_old_one(key_api):
    client, api_key = key_api
    url = f"/v1/keys/{api_key.id}/alert-webhook"
    first = client.post(url, {"url": "https://hooks.example.com/a"}, format="json").json()["webhook_secret"]
    second = client.post(url, {"url": "https://hooks.example.com/b"}, format="json").json()["webhook_secret"]
    assert first == second
    rotated = client.post(f"/v1/keys/{api_key.id}/webhook-secret/rotate").json()["webhook_secret"]
    assert rotated != first
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert (stored.webhook_secret, stored.previous_webhook_secret) == (rotated, first)


def test_null_clears_the_webhook(key_api):
    client, api_key = key_api
    url = f"/v1/keys/{api_key.id}/alert-webhook"
    client.post(url, {"url": "https://hooks.example.com/a"}, format="json")
    response = client.post(url, {"url": None}, format="json")
    assert response.status_code == 200 and response.json()["alert_webhook_url"] is None
