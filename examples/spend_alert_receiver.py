"""Receive spend alerts: an HTTP endpoint that verifies Standard Webhooks signatures before trusting one.

Set the key's alert webhook (`client.keys.update_alert_webhook(key_id, url=...)`, HTTPS) and put the
`webhook_secret` it returns in NEXEVO_WEBHOOK_SECRET. Deliveries signed with it are accepted (204);
anything else is refused (400) and ignored. Behind your HTTPS proxy, run:

    NEXEVO_WEBHOOK_SECRET=whsec_... PORT=8787 python examples/spend_alert_receiver.py

`--check` sends the receiver one delivery signed with the secret and one forged, and exits 0 only if
the first is accepted and the second refused.
"""

import json
import os
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = os.environ.get("NEXEVO_WEBHOOK_SECRET", "")
HOST = os.environ.get("HOST", "127.0.0.1")  # your HTTPS proxy forwards to it
PORT = int(os.environ.get("PORT", "8787"))


def handle(event: dict) -> None:
    """Your reaction: page someone, pause a batch job, raise the cap..."""
    data = event["data"]
    if event["type"] == "key.spend_threshold_crossed":
        print(
            f"ALERT key {data['key_name']} ({data['key_id']}) reached {data['threshold_pct']}% of its "
            f"${data['cap_usd']} cap: ${data['spend_month_to_date_usd']} spent in {data['month']}",
            flush=True,
        )
    else:
        print(f"event {event['type']}", flush=True)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            # Checks the signature and that the timestamp is within five minutes (no replays).
            event = Webhook(SECRET).verify(body, dict(self.headers.items()))
        except WebhookVerificationError as error:
            print(f"refused a delivery: {error}", flush=True)
            self.send_response(400)
            self.end_headers()
            return
        # Answer fast; deliveries are retried on errors, so make handling idempotent on webhook-id.
        self.send_response(204)
        self.end_headers()
        print(f"accepted {self.headers['webhook-id']}", flush=True)
        handle(event)

    def log_message(self, format: str, *args) -> None:
        pass


def post(url: str, body: bytes, headers: dict) -> int:
    headers = {"Content-Type": "application/json", **headers}
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - our own http URL
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def check(server: ThreadingHTTPServer) -> bool:
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    now = datetime.now(UTC)
    body = json.dumps({"type": "key.webhook_test", "timestamp": now.isoformat(), "data": {}})
    signature = Webhook(SECRET).sign("msg_check_1", now, body)
    headers = {"webhook-id": "msg_check_1", "webhook-timestamp": str(int(now.timestamp()))}
    accepted = post(url, body.encode(), {**headers, "webhook-signature": signature})
    forged = post(url, body.encode(), {**headers, "webhook-signature": "v1,Zm9yZ2VkIHNpZ25hdHVyZQ=="})
    print(f"signed delivery: {accepted}, forged delivery: {forged}")
    return accepted == 204 and forged == 400


def main() -> int:
    if not SECRET.startswith("whsec_"):
        print("Set NEXEVO_WEBHOOK_SECRET to the key's webhook secret (whsec_...).")
        return 1
    if "--check" in sys.argv:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        passed = check(server)
        server.shutdown()
        return 0 if passed else 1
    server = ThreadingHTTPServer((HOST, PORT), Receiver)
    print(f"listening on {HOST}:{PORT}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
