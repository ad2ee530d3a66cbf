"""Checks every request passes before any route sees it: the size of its body and the host it names.

Without a cap a client could send a JSON body of any size, and the server would read all of it into
memory before validating it. Without a host check any web page could reach a server on a reader's
own machine through DNS rebinding: its script talks to "attacker.example", which then resolves to
127.0.0.1, and the browser sends that name as the ``Host`` header. Starlette's
``TrustedHostMiddleware`` refuses hosts that are not configured.

>>> allowed_hosts("127.0.0.1", "")
['localhost', '127.0.0.1', '::1']
>>> allowed_hosts("0.0.0.0", "api.example.org, *.example.org")
['api.example.org', '*.example.org']
"""

from __future__ import annotations

import json
import logging

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("housing_kb.api")

#: The largest request body accepted (a search or a brief request is a few kilobytes).
MAX_BODY_BYTES = 1024 * 1024
#: The largest upload accepted on the paths that take files (POST /v1/documents).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: What an upload's multipart body holds besides the file: its metadata, contact and boundaries.
UPLOAD_ENVELOPE_BYTES = 64 * 1024
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"]
#: Addresses that listen on every interface: the names a client will use cannot be known from them.
WILDCARD_BINDS = {"0.0.0.0", "::", ""}


def allowed_hosts(bind: str, configured: str) -> list[str]:
    """The ``Host`` values to serve: the configured list (comma-separated; ``*`` allows any), else the
    loopback names plus the address bound to. A server bound to every interface with nothing configured
    serves any host, and says so: it is reachable by address anyway, and the names are the operator's."""
    hosts = [h.strip() for h in configured.split(",") if h.strip()]
    if hosts:
        return hosts
    if bind in WILDCARD_BINDS:
        log.warning(
            "serving any Host header: set HOUSING_KB_ALLOWED_HOSTS to the names clients use (DNS rebinding)"
        )
        return ["*"]
    return list(dict.fromkeys([*LOOPBACK_HOSTS, bind]))


class BodyLimit:
    """Refuses a request body over ``max_bytes`` with a 413 that names the limit: at once when its
    ``Content-Length`` says so, else as soon as the streamed (chunked) body passes it. The paths in
    ``uploads`` (POST only) take bodies up to ``max_upload_bytes`` instead."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        *,
        uploads: tuple[str, ...] = (),
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = uploads
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST" and scope["path"].rstrip("/") in self.uploads:
            shown, variable = self.max_upload_bytes, "HOUSING_KB_MAX_UPLOAD_MB"
            limit = shown + UPLOAD_ENVELOPE_BYTES
        else:
            limit = shown = self.max_bytes
            variable = "HOUSING_KB_MAX_BODY_BYTES"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, shown, variable)
            return
        received = 0
        started = refused = False

        async def counted() -> Message:
            # Past the limit: answer 413 now and tell the app the client has gone, so it stops
            # reading (an exception here would reach FastAPI's body parser and become a 400).
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        await _refuse(send, shown, variable)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's own answer to the cut-off body: the 413 has been sent
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)


async def _refuse(send: Send, limit: int, variable: str) -> None:
    size = f"{limit // (1024 * 1024)} MB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
    body = json.dumps(
        {
            "error": "request_too_large",
            "message": f"the request body is over the limit of {size} ({variable})",
            "parameter": "body",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["MAX_BODY_BYTES", "MAX_UPLOAD_BYTES", "BodyLimit", "TrustedHostMiddleware", "allowed_hosts"]
