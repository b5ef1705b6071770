"""Pick models from the library by price, context and capability, then compare them on one prompt.

From `client.models.list()`: the cheapest model that supports a capability and a minimum context,
and the one with the longest context. Both answer the same prompt; the program prints what each
cost and how long it took.

    CAPABILITY=tools MIN_CONTEXT=32000 python examples/compare_models.py
"""

import os
import sys
import time
from decimal import Decimal

from nexevo import Nexevo

CAPABILITY = os.environ.get("CAPABILITY", "tools")  # tools, vision, json_mode or reasoning
MIN_CONTEXT = int(os.environ.get("MIN_CONTEXT", "8000"))
PROMPT = "Summarize the plot of Hamlet in two sentences."


def cost_per_thousand_requests(model: dict) -> Decimal:
    """1,000 requests of 1,000 tokens in and 500 out, at the key's prices (per million tokens)."""
    pricing = model["pricing"]
    per_request = (
        Decimal(pricing["input_per_million_usd"]) * 1000 + Decimal(pricing["output_per_million_usd"]) * 500
    )
    return per_request * 1000 / 1_000_000


def main() -> int:
    with Nexevo() as client:
        models = client.models.list()["data"]
        fits = [
            m
            for m in models
            if m["candidates"] is None  # real models, not the pools
            and m["available"]
            and m["capabilities"][CAPABILITY]
            and (m["context_length"] or 0) >= MIN_CONTEXT
        ]
        if len(fits) < 2:
            print(f"Fewer than two models have {CAPABILITY} and {MIN_CONTEXT} tokens of context.")
            return 1
        cheapest = min(fits, key=cost_per_thousand_requests)
        longest = max((m for m in fits if m is not cheapest), key=lambda m: m["context_length"])

        print(f"{len(models)} models, {len(fits)} with {CAPABILITY} and >= {MIN_CONTEXT} tokens of context")
        print(f"{'model':<32}{'context':>10}{'$ / 1k requests':>18}")
        for m in (cheapest, longest):
            print(f"{m['id']:<32}{m['context_length']:>10}{cost_per_thousand_requests(m):>18.2f}")

        answers = {}
        for m in (cheapest, longest):
            started = time.monotonic()
            response = client.chat.completions.create(
                model=m["id"], messages=[{"role": "user", "content": PROMPT}], max_tokens=200
            )
            seconds = time.monotonic() - started
            answers[m["id"]] = response["choices"][0]["message"]["content"]
            print(f"\n{m['id']} in {seconds:.2f}s for ${response['nexevo']['cost_usd']}:\n{answers[m['id']]}")
    return 0 if all(answers.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
