"""Bring your own provider key: requests to that provider's models go out with your key, at the BYOK fee.

Add the key once in the console (Requests → Provider keys); after that, every real model id of that
provider is billed as `byok` for your organization, and nothing else in your code changes.

    NEXEVO_BYOK_MODEL=openai/gpt-4o-mini python examples/byok.py
"""

import os
import sys

from nexevo import Nexevo

MODEL = os.environ.get("NEXEVO_BYOK_MODEL", "openai/gpt-4o-mini")


def main() -> int:
    with Nexevo() as client:
        pricing = client.models.retrieve(MODEL)["pricing"]
        if pricing["tier"] != "byok":
            print(
                f"{MODEL} is priced as {pricing['tier']}: add your provider key at "
                f"{client.base_url}/requests/provider-keys/ first."
            )
            return 1
        print(
            f"{MODEL} at your own key: ${pricing['input_per_million_usd']} in / "
            f"${pricing['output_per_million_usd']} out per million tokens (the BYOK fee)"
        )

        response = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Say hello in French."}]
        )
        nexevo = response["nexevo"]
        print(f"answer: {response['choices'][0]['message']['content']}")
        print(f"generation {nexevo['generation_id']}: tier {nexevo['tier']}, fee ${nexevo['cost_usd']}")

        byok_today = client.billing.usage(days=1)["totals"]["by_tier"]["byok"]
    print(f"BYOK today: {byok_today['requests']} requests, ${byok_today['cost_usd']}")
    return 0 if nexevo["tier"] == "byok" and byok_today["requests"] >= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
