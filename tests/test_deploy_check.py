import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_production_settings_pass_the_deploy_check():
    environment = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "nexevo_site.settings",
        "NEXEVO_ENV": "production",
        "SECRET_KEY": "a-production-secret-that-is-long-and-random-enough-0123456789abcdef",
        "ALLOWED_HOSTS": "console.nexevo.example",
        "NEXEVO_ENCRYPTION_KEY": "kTnWbQZ2C7Ojh1QxsnhVfVvR3V7aJv8jgkYxHqBm0nE=",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    environment = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "nexevo_site.settings",
        "NEXEVO_ENV": "production",
        "ALLOWED_HOSTS": "console.nexevo.example",
        "NEXEVO_ENCRYPTION_KEY": "kTnWbQZ2C7Ojh1QxsnhVfVvR3V7aJv8jgkYxHqBm0nE=",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
