"""Export daily usage to a CSV file: requests, tokens and cost per day, split by tier.

python examples/usage_csv.py usage.csv 30
"""

import csv
import sys
from decimal import Decimal

from nexevo import Nexevo

TIERS = ["fast", "balanced", "passthrough", "byok"]


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "usage.csv"
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with Nexevo() as client:
        usage = client.billing.usage(days=days)

    columns = ["date", "requests", "prompt_tokens", "completion_tokens", "cost_usd"]
    columns += [f"{tier}_cost_usd" for tier in TIERS]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for day in usage["days"]:
            by_tier = [day["by_tier"][tier]["cost_usd"] for tier in TIERS]
            writer.writerow(
                [
                    day["date"],
                    day["requests"],
                    day["prompt_tokens"],
                    day["completion_tokens"],
                    day["cost_usd"],
                ]
                + by_tier
            )

    # Money is a decimal string: add it up as Decimal, never float.
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    total = sum((Decimal(row["cost_usd"]) for row in rows), Decimal(0))
    requests = sum(int(row["requests"]) for row in rows)
    print(f"wrote {len(rows)} days to {path}: {requests} requests, ${total}")
    matches = total == Decimal(usage["totals"]["cost_usd"]) and requests == usage["totals"]["requests"]
    if not matches:
        print(f"the file does not add up to the totals: {usage['totals']}")
    return 0 if matches else 1


if __name__ == "__main__":
    sys.exit(main())
