"""A Stripe-compatible HTTP server on loopback: the network edge of Stripe's API, faked.

It answers ``POST /v1/checkout/sessions`` as Stripe does (form-encoded in, JSON out), honouring the
``Idempotency-Key`` header, and records every request. ``sign`` makes a ``Stripe-Signature`` header
the way Stripe signs webhooks.
"""

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class FakeStripe:
    def __init__(self):
        self.requests: list[dict] = []
        self.sessions: dict[str, dict] = {}
        self.payment_intents: dict[str, dict] = {}
        self._by_idempotency_key: dict[str, dict] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                fake.requests.append({"path": self.path, "form": {}, "headers": dict(self.headers)})
                intent = fake.payment_intents.get(self.path.rsplit("/", 1)[-1])
                if not self.path.startswith("/v1/payment_intents/") or intent is None:
                    return self._answer(
                        404, {"error": {"type": "invalid_request_error", "message": "No such"}}
                    )
                self._answer(200, intent)

            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                form = dict(parse_qsl(body, keep_blank_values=True))
                fake.requests.append({"path": self.path, "form": form, "headers": dict(self.headers)})
                if self.path != "/v1/checkout/sessions":
                    return self._answer(
                        404, {"error": {"type": "invalid_request_error", "message": "No such path"}}
                    )
                if not self.headers.get("Authorization", "").startswith("Bearer sk_test_"):
                    return self._answer(
                        401, {"error": {"type": "invalid_request_error", "message": "Bad key"}}
                    )
                self._answer(200, fake._create_session(form, self.headers.get("Idempotency-Key")))

            def _answer(self, status, payload):
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _create_session(self, form: dict, idempotency_key: str | None) -> dict:
        with self._lock:
            if idempotency_key and idempotency_key in self._by_idempotency_key:
                return self._by_idempotency_key[idempotency_key]
            number = next(self._numbers)
            session_id = f"cs_test_{number:06d}"
            amount = int(form["line_items[0][price_data][unit_amount]"]) * int(
                form["line_items[0][quantity]"]
            )
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": form["mode"],
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "amount_total": amount,
                "currency": form["line_items[0][price_data][currency]"],
                "payment_status": "unpaid",
                "status": "open",
                "metadata": {
                    key[len("metadata[") : -1]: value
                    for key, value in form.items()
                    if key.startswith("metadata[")
                },
                "success_url": form["success_url"],
                "payment_intent": f"pi_test_{number:06d}",
            }
            self.sessions[session_id] = session
            prefix = "payment_intent_data[metadata]["
            self.payment_intents[session["payment_intent"]] = {
                "id": session["payment_intent"],
                "object": "payment_intent",
                "metadata": {
                    key[len(prefix) : -1]: value for key, value in form.items() if key.startswith(prefix)
                },
            }
            if idempotency_key:
                self._by_idempotency_key[idempotency_key] = session
            return session

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def sign(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def event(event_type: str, data_object: dict, *, event_id: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "api_version": "2025-01-27",
            "created": int(time.time()),
            "data": {"object": data_object},
        }
    ).encode()
