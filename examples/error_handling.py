"""Handle 402, 429 and 5xx: retry what a retry can fix, with back-off, and stop on what it cannot.

- 429 (rate limit) and 5xx (the provider or the console failed): wait and retry; a refused or failed
  request is not charged, so retrying it is safe. `Retry-After` is honoured.
- 402 (balance empty, or the key's monthly cap reached): retrying cannot help; stop and say why.
- Anything else (400, 401, 404): a bug in the request or the key; fix it, do not retry.

    python examples/error_handling.py
Exit status: 0 answered, 2 payment required, 1 anything else.
"""

import os
import random
import sys
import time

from nexevo import (
    APIConnectionError,
    InternalServerError,
    Nexevo,
    PaymentRequiredError,
    RateLimitError,
)

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/balanced")
ATTEMPTS = 5
MAX_WAIT_SECONDS = 30.0

RETRYABLE = (RateLimitError, InternalServerError, APIConnectionError)


def wait_before_retry(error: Exception, attempt: int) -> float:
    """The server's Retry-After when it gives one, else exponential back-off with jitter."""
    retry_after = getattr(error, "headers", {}).get("Retry-After")
    if retry_after:
        return min(MAX_WAIT_SECONDS, float(retry_after))
    return min(MAX_WAIT_SECONDS, 0.5 * 2**attempt) * random.uniform(0.75, 1.0)


def complete(client: Nexevo, **request) -> dict:
    for attempt in range(ATTEMPTS):
        try:
            return client.chat.completions.create(**request)
        except RETRYABLE as error:
            if attempt == ATTEMPTS - 1:
                raise
            wait = wait_before_retry(error, attempt)
            print(f"attempt {attempt + 1} failed: {error}; retrying in {wait:.1f}s")
            time.sleep(wait)
    raise AssertionError("unreachable")


def main() -> int:
    # max_retries=0: this program does its own retrying, visibly.
    with Nexevo(max_retries=0) as client:
        try:
            response = complete(
                client, model=MODEL, messages=[{"role": "user", "content": "Name three prime numbers."}]
            )
        except PaymentRequiredError as error:
            print(f"payment required ({error.code}): {error.message}")
            print("Top up the balance or raise the key's spend cap; retrying will not help.")
            return 2
        except RETRYABLE as error:
            print(f"gave up after {ATTEMPTS} attempts: {error}")
            return 1
    print(f"answer: {response['choices'][0]['message']['content']}")
    print(f"generation {response['nexevo']['generation_id']}, cost ${response['nexevo']['cost_usd']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
