"""A tiny OpenAI-compatible chat-completions server on 127.0.0.1, for testing the synthesis.

Its reply cites the first two passage ids it finds in the prompt, and also contains one sentence with
no citation and one citing an id that was never retrieved: both must be dropped.

>>> with ChatStub() as stub:                                      # doctest: +SKIP
...     LLMConfig(base_url=stub.base_url, model="stub").model
'stub'
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

UNCITED = "This sentence makes a claim without any source."
FABRICATED_ID = "not-a-document:0000:deadbeef"
_ID = re.compile(r"\[p:([^\]\s]+)\]")


def stub_reply(prompt: str) -> str:
    """The assistant text for a prompt listing passages as ``[p:ID]``."""
    ids = list(dict.fromkeys(_ID.findall(prompt))) or ["none"]
    second = ids[1] if len(ids) > 1 else ids[0]
    return (
        f"Residents of informal settlements took part in planning the response [p:{ids[0]}].\n"
        f"{UNCITED}\n"
        f"- Upgrading combined infrastructure and services [p:{second}] [p:{ids[0]}].\n"
        f"A fabricated source supports this [p:{FABRICATED_ID}]."
    )


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if not self.path.endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        # passages are listed in the user message (the system message shows the citation format)
        prompt = next(
            (m.get("content", "") for m in reversed(body.get("messages", [])) if m.get("role") == "user"), ""
        )
        self._send(
            200,
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "model": body.get("model", "stub"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": stub_reply(prompt)},
                        "finish_reason": "stop",
                    }
                ],
            },
        )

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass


class _StubServer(ThreadingHTTPServer):
    requests: list[dict[str, Any]]


class ChatStub:
    """Context manager running the stub on a free loopback port; ``base_url`` ends in ``/v1``."""

    def __enter__(self) -> ChatStub:
        self.server = _StubServer(("127.0.0.1", 0), _Handler)
        self.server.requests = []
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.requests

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
