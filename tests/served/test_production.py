"""Production started the documented way (bin/production, README "Production") serves its pages and
their static files; and no API key reaches the web server's logs, its access log included.

Before bin/production ran collectstatic, every page under NEXEVO_ENV=production was a 500 (issue 17,
finding 9: "Missing staticfiles manifest entry for 'css/app.css'")."""

import re
import sqlite3
import subprocess

import httpx

from .conftest import PROJECT, environment

# What a production host sets (README, "Settings"); the values are this test's own.
PRODUCTION = {
    "SECRET_KEY": "a-served-production-secret-that-is-long-and-random-0123456789abcdef",
    "ALLOWED_HOSTS": "127.0.0.1",
    "NEXEVO_ENCRYPTION_KEY": "kTnWbQZ2C7Ojh1QxsnhVfVvR3V7aJv8jgkYxHqBm0nE=",
    "TRUSTED_PROXY_COUNT": "1",
}
# Production redirects plain HTTP to HTTPS; the TLS-terminating proxy in front says it was HTTPS.
BEHIND_TLS = {"X-Forwarded-Proto": "https"}


def test_bin_production_serves_a_page_and_its_stylesheet(serve, database, tmp_path):
    env = environment(database, **PRODUCTION, STATIC_ROOT=str(tmp_path / "static"))
    server = serve("production", env=env).wait_until_serving(headers=BEHIND_TLS)

    page = httpx.get(f"{server.url}/accounts/login/", headers=BEHIND_TLS, timeout=30)

    assert page.status_code == 200, server.output()
    assert "Content-Security-Policy" in page.headers
    # The page names the hashed file of collectstatic's manifest, and that file is served.
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet is not None, page.text[:2000]
    css = httpx.get(f"{server.url}{stylesheet.group(1)}", headers=BEHIND_TLS, timeout=30)
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_a_key_in_a_query_string_is_refused_and_never_logged(serve, database, template_database):
    server = serve("web", env=environment(database)).wait_until_serving()
    full_key = template_database.full_key

    refused = httpx.get(f"{server.url}/v1/keys?api_key={full_key}", timeout=30)
    answered = httpx.get(f"{server.url}/v1/keys", headers={"Authorization": f"Bearer {full_key}"}, timeout=30)
    bad = httpx.get(f"{server.url}/v1/keys", headers={"Authorization": f"Bearer {full_key}x"}, timeout=30)

    assert refused.status_code == 401  # keys go in the Authorization header only
    assert answered.status_code == 200
    assert bad.status_code == 401
    server.stop()  # its output complete
    log = server.output()
    # The access log has the request line, with the key blanked out of it.
    assert "GET /v1/keys?api_key=nx_[redacted]" in log, log
    secret = full_key.split("_", 1)[1]
    assert secret[:8] not in log


def test_bin_production_prepare_only_checks_collects_and_migrates_without_serving(database, tmp_path):
    """What deploy/systemd's nexevo-prepare.service runs once before the web processes start."""
    # A migration not applied yet, as after a deploy: prepare applies it.
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM django_migrations WHERE app = 'sessions'")
        connection.execute("DROP TABLE django_session")
    env = environment(database, **PRODUCTION, STATIC_ROOT=str(tmp_path / "static"))

    prepared = subprocess.run(
        [str(PROJECT / "bin" / "production"), "--prepare-only"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert (tmp_path / "static" / "staticfiles.json").is_file()  # collectstatic's manifest
    assert "Applying sessions." in prepared.stdout  # migrated
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM django_session").fetchone() == (0,)
    assert "Uvicorn running" not in prepared.stdout + prepared.stderr  # and it did not serve
