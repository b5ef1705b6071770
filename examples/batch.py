"""Process a batch with bounded concurrency under a spend cap: a capped key, and a clean stop on 402.

The batch runs on a key of its own whose monthly cap bounds what it can cost. Four requests are in
flight at most; 429 and 5xx are retried with back-off. Before a request runs, its worst-case cost is
held against the cap, so a 402 while others are in flight may only mean that they hold the rest: the
request waits for them and tries alone. A 402 alone means the cap is reached: the batch stops,
and the items not yet started are skipped. At the end it checks that the key spent no more than its cap.

    BATCH_CAP_USD=0.05 python examples/batch.py
"""

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

from nexevo import APIConnectionError, InternalServerError, Nexevo, PaymentRequiredError, RateLimitError

MODEL = os.environ.get("NEXEVO_MODEL", "nexevo/fast")
CAP_USD = os.environ.get("BATCH_CAP_USD", "0.05")
CONCURRENCY = int(os.environ.get("BATCH_CONCURRENCY", "4"))
ATTEMPTS = 4
RETRYABLE = (RateLimitError, InternalServerError, APIConnectionError)

REVIEWS = [
    f"Review {n}: the blender is loud but it crushes ice in seconds, would buy again" for n in range(40)
]


class CappedBatch:
    """Sends requests on a capped key, telling a cap held by requests in flight from a cap reached."""

    def __init__(self, client: Nexevo) -> None:
        self.client = client
        self.stopped = threading.Event()
        self.state = threading.Condition()
        self.in_flight = 0
        self.alone = False  # a request is being tried alone after a 402; the others wait

    def send(self, review: str, *, alone: bool = False) -> None:
        with self.state:
            self.state.wait_for(lambda: alone or not self.alone)
            self.in_flight += 1
        try:
            self.client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": f"Summarize in five words: {review}"}],
                max_tokens=20,  # bounds each request's worst case, so more of them fit under the cap
            )
        finally:
            with self.state:
                self.in_flight -= 1
                self.state.notify_all()

    def retry_alone(self, review: str) -> str:
        with self.state:
            if self.alone:  # another worker is finding out already; wait for its answer
                self.state.wait_for(lambda: not self.alone)
                return "again"
            self.alone = True
            self.state.wait_for(lambda: self.in_flight == 0)
        try:
            # A finished request's hold is released a moment after its answer: allow for that.
            for pause in (0.0, 0.5, 1.5):
                time.sleep(pause)
                try:
                    self.send(review, alone=True)
                    return "done"
                except PaymentRequiredError as error:
                    refusal = error
            print(f"stopping: {refusal.code} ({refusal.message})")
            self.stopped.set()
            return "refused"
        except RETRYABLE:
            return "again"
        finally:
            with self.state:
                self.alone = False
                self.state.notify_all()

    def summarize(self, review: str) -> str:
        failures = 0
        while not self.stopped.is_set():
            try:
                self.send(review)
                return "done"
            except PaymentRequiredError:
                outcome = self.retry_alone(review)
                if outcome != "again":
                    return outcome
            except RETRYABLE as error:
                failures += 1
                if failures == ATTEMPTS:
                    return "failed"
                retry_after = error.headers.get("Retry-After") if hasattr(error, "headers") else None
                time.sleep(float(retry_after) if retry_after else 0.2 * 2**failures)
        return "skipped"


def main() -> int:
    with Nexevo() as admin:
        created = admin.keys.create(
            name=f"batch {datetime.now(UTC):%Y-%m-%d %H:%M}", monthly_spend_cap_usd=CAP_USD
        )
        key_id = created["key"]["key_id"]
        print(f"created key {key_id} capped at ${created['key']['monthly_spend_cap_usd']} a month")

        # One client for the batch: httpx's connection pool is safe to share between threads.
        with Nexevo(api_key=created["full_key"], max_retries=0) as client:
            batch = CappedBatch(client)
            with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
                outcomes = list(pool.map(batch.summarize, REVIEWS))

        spent = Decimal(admin.keys.get(key_id)["month_to_date_spend_usd"])
        admin.keys.revoke(key_id)  # the batch is over; its key is of no further use

    counts = {outcome: outcomes.count(outcome) for outcome in ("done", "refused", "skipped", "failed")}
    print(
        f"{counts['done']} done, {counts['refused']} refused, {counts['skipped']} skipped, "
        f"{counts['failed']} failed; the key spent ${spent} of its ${CAP_USD} cap"
    )
    within_cap = spent <= Decimal(CAP_USD)
    finished = counts["done"] == len(REVIEWS) or batch.stopped.is_set()
    return 0 if within_cap and finished and not counts["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
