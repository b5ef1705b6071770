"""X-Forwarded-For counts exactly as TRUSTED_PROXY_COUNT says, through the real web server as every
start runs it (bin/web, which bin/run, the Procfile and bin/production go through): with no proxy
trusted, a client on loopback that forges the header changes neither the address in the audit trail
nor the sign-in limit's count; behind one trusted proxy, the address the proxy adds is the client's.

uvicorn's own default would have trusted the header from any loopback client (issue 17, finding 6)."""

import re
from pathlib import Path

import httpx
import pytest

from .conftest import PROJECT, environment, query

FORGED = "203.0.113.7"


def create_a_key(server, full_key: str, forwarded_for: str) -> None:
    response = httpx.post(
        f"{server.url}/v1/keys",
        json={"name": "probe"},
        headers={"Authorization": f"Bearer {full_key}", "X-Forwarded-For": forwarded_for},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def audited_address(database) -> str:
    rows = query(
        database,
        "SELECT ip_address FROM orgs_auditevent WHERE action = 'key.created' AND target_label LIKE 'probe%'",
    )
    assert len(rows) == 1, rows
    return rows[0][0]


@pytest.mark.parametrize(
    ("trusted_proxies", "forwarded_for", "recorded"),
    [
        ("0", FORGED, "127.0.0.1"),
        ("1", FORGED, FORGED),
        # Behind one proxy the client may write its own entries; only the one the proxy adds counts.
        ("1", f"198.51.100.9, {FORGED}", FORGED),
    ],
)
def test_the_audit_trail_records_the_address_the_trusted_proxies_say(
    serve, database, template_database, trusted_proxies, forwarded_for, recorded
):
    server = serve("web", env=environment(database, TRUSTED_PROXY_COUNT=trusted_proxies)).wait_until_serving()

    create_a_key(server, template_database.full_key, forwarded_for)

    assert audited_address(database) == recorded


def failed_sign_in(client: httpx.Client, attempt: int) -> str:
    """One failed sign-in, from a "different address" each time and for a different account, so that
    only the limit per client address (10 a minute) can stop it; returns the page's answer."""
    headers = {"X-Forwarded-For": f"198.51.100.{attempt}"}
    form = client.get("/accounts/login/", headers=headers)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = client.post(
        "/accounts/login/",
        data={
            "csrfmiddlewaretoken": token,
            "login": f"nobody{attempt}@example.com",
            "password": "wrong password",
        },
        headers=headers,
    )
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize(("trusted_proxies", "limited"), [("0", True), ("1", False)])
def test_the_sign_in_limit_counts_the_address_the_trusted_proxies_say(
    serve, database, trusted_proxies, limited
):
    server = serve("web", env=environment(database, TRUSTED_PROXY_COUNT=trusted_proxies)).wait_until_serving()

    with httpx.Client(base_url=server.url, timeout=30) as client:
        answers = [failed_sign_in(client, attempt) for attempt in range(11)]

    assert all("Too many failed login attempts" not in answer for answer in answers[:10])
    assert ("Too many failed login attempts" in answers[10]) == limited


def test_every_documented_start_serves_through_bin_web():
    """bin/web holds uvicorn's flags (--no-proxy-headers); no start runs uvicorn some other way."""
    assert "--no-proxy-headers" in (PROJECT / "bin" / "web").read_text()
    for start, line in [
        ("bin/run", "exec bin/web "),
        ("bin/production", "exec bin/web "),
        ("Procfile", "web: bin/web "),
    ]:
        commands = [
            command
            for command in Path(PROJECT / start).read_text().splitlines()
            if not command.startswith("#")
        ]
        assert any(command.startswith(line) or f" {line}" in command for command in commands), start
        assert not any("uvicorn" in command for command in commands), start
