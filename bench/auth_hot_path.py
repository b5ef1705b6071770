"""API-key authentication on the hot path: GET /v1/auth/me with a Bearer key against GET /v1/ping
(no credentials, same middleware and DRF stack) on the same server, in the same run.

    .venv/bin/python bench/auth_hot_path.py [--requests 3000]

Target (issue 4): median latency at most 1.15x and throughput at least 0.85x of the baseline,
at concurrency 1 and 16. Set DATABASE_URL to measure on PostgreSQL.
"""

import argparse

from common import Server, django_setup, measure, prepare_database, print_table, server_environment


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    arguments = parser.parse_args()

    environment = server_environment()
    prepare_database(environment)
    django_setup(environment)
    from accounts.models import User
    from apikeys.services import key_create
    from orgs.selectors import personal_organization_of_user

    user, _ = User.objects.get_or_create(email="bench@example.com")
    _api_key, full_key = key_create(
        organization=personal_organization_of_user(user=user), created_by=user, name="bench"
    )

    results, verdicts = [], []
    with Server(environment) as server:
        for concurrency in (1, 16):
            baseline = measure(
                "GET /v1/ping (no auth)",
                f"{server.url}/v1/ping",
                {},
                requests=arguments.requests,
                concurrency=concurrency,
            )
            keyed = measure(
                "GET /v1/auth/me (Bearer key)",
                f"{server.url}/v1/auth/me",
                {"Authorization": f"Bearer {full_key}"},
                requests=arguments.requests,
                concurrency=concurrency,
            )
            results += [baseline, keyed]
            latency_ratio = keyed.median_ms / baseline.median_ms
            throughput_ratio = keyed.throughput / baseline.throughput
            verdicts.append(
                f"concurrency {concurrency:>2}: median latency {latency_ratio:.2f}x (target <= 1.15x), "
                f"throughput {throughput_ratio:.2f}x (target >= 0.85x) -> "
                f"{'meets' if latency_ratio <= 1.15 and throughput_ratio >= 0.85 else 'misses'} the target"
            )
    print_table(results)
    print()
    print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
