"""Add money with a Stripe Checkout top-up that is safe to retry: the idempotency key makes it one payment.

The same key and amount always return the same Checkout Session, so a retry after a timeout never
charges twice. Open the printed URL to pay; with `--wait` the program then watches the ledger until
the top-up lands.

    python examples/topup.py topup-2026-04-27-001 --wait
"""

import os
import sys
import time
from datetime import UTC, datetime

from nexevo import Nexevo

AMOUNT_USD = os.environ.get("TOPUP_AMOUNT_USD", "20")
WAIT_SECONDS = float(os.environ.get("TOPUP_WAIT_SECONDS", "600"))


def main() -> int:
    arguments = [argument for argument in sys.argv[1:] if argument != "--wait"]
    # Derive the key from what the payment is for (an invoice, a date), never a fresh random value
    # per attempt: the point is that a retry sends the same one.
    idempotency_key = arguments[0] if arguments else f"topup-{datetime.now(UTC):%Y-%m-%d}-001"
    with Nexevo() as client:
        session = client.billing.checkout(amount_usd=AMOUNT_USD, idempotency_key=idempotency_key)
        # A retry, as after a lost response: the same session comes back, nothing new is created.
        retried = client.billing.checkout(amount_usd=AMOUNT_USD, idempotency_key=idempotency_key)
        if retried["session_id"] != session["session_id"]:
            print("A retry with the same idempotency key created a second session.")
            return 1
        print(f"top-up of ${session['amount_usd']} ({idempotency_key}): pay at {session['checkout_url']}")

        if "--wait" not in sys.argv:
            return 0
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            ledger = client.billing.transactions(limit=20)["data"]
            entry = next(
                (e for e in ledger if e["kind"] == "top_up" and e["reference"] == session["session_id"]), None
            )
            if entry:
                balance = client.billing.balance()["balance_usd"]
                print(f"paid: {entry['txn_id']} +${entry['amount_usd']}, balance now ${balance}")
                return 0
            time.sleep(1)
    print("The top-up was not paid in time.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
