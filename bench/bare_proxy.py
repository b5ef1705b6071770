"""A bare async forwarding proxy, written for the chat benchmark only: it forwards the request body
to ``BARE_PROXY_UPSTREAM`` + the path and answers with the provider's body. No authentication, no
admission, no routing, no metering: the least any gateway must do.

    BARE_PROXY_UPSTREAM=http://127.0.0.1:PORT/ok uvicorn bench.bare_proxy:app
"""

import os

import httpx

UPSTREAM = os.environ.get("BARE_PROXY_UPSTREAM", "http://127.0.0.1:9999/ok")
_client: httpx.AsyncClient | None = None


async def app(scope, receive, send):
    global _client
    if scope["type"] != "http":
        return
    if _client is None:
        _client = httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    response = await _client.post(
        UPSTREAM + scope["path"], content=body, headers={"Content-Type": "application/json"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": response.content})
