"""The CLI against a running server: with ``--server URL`` or ``HOUSING_KB_SERVER`` set, ``search``,
``ask``, ``examples`` and ``brief`` call its HTTP API instead of opening the index, and print what
they would print locally (the server already holds the models and the index in memory).

>>> server = Server.from_option("http://127.0.0.1:8000", Settings())    # doctest: +SKIP
>>> server.get_json("/v1/search", {"q": "security of tenure", "k": 3})["hits"][0]["passage_id"]  # doctest: +SKIP
'ohchr-fs21:12:3f2a9c1b'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from housing_kb.config import Settings
from housing_kb.index.query.hits import DocumentRef, Hit

#: The setting naming a running server the CLI should use (Settings.server).
SERVER_ENV = "HOUSING_KB_SERVER"
#: Seconds to wait for an answer; a brief as PDF is the slowest request.
TIMEOUT_S = 120.0


class ServerError(ValueError):
    """The server could not be reached or refused the request; the message says which and why."""


@dataclass(frozen=True)
class Server:
    url: str
    #: The API key sent as a bearer token (HOUSING_KB_API_KEY), for a server that needs one to read.
    api_key: str = field(default="", repr=False)

    @classmethod
    def from_option(cls, option: str | None, settings: Settings) -> Server | None:
        """The server named by ``--server``, else by ``HOUSING_KB_SERVER`` (``settings.server``), else
        None (work locally); it is sent ``settings.api_key``."""
        url = (option or settings.server).strip().rstrip("/")
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise ServerError(f"--server / {SERVER_ENV} must be an http(s) URL (got {url!r})")
        return cls(url, api_key=settings.api_key)

    def _call(self, method: str, path: str, params: dict[str, Any], body: dict[str, Any] | None = None):
        query = {k: v for k, v in params.items() if v is not None and v != []}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = httpx.request(
                method, self.url + path, params=query, json=body, headers=headers, timeout=TIMEOUT_S
            )
        except httpx.HTTPError as exc:
            raise ServerError(f"cannot reach the server at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ServerError(
                f"the server at {self.url} answered {response.status_code}: {_detail(response)}"
            )
        return response

    def get_json(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._call("GET", path, params).json()

    def post_bytes(self, path: str, body: dict[str, Any]) -> bytes:
        return self._call("POST", path, {}, body).content


def _detail(response: httpx.Response) -> str:
    """The server's own error message (it names the parameter), else the status text."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    detail = (body.get("detail") or body.get("message")) if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI validation errors: one per parameter
        return "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
    return str(detail or body)


def hit_from_api(data: dict[str, Any]) -> Hit:
    """A :class:`Hit` rebuilt from the API's hit shape, so the CLI prints a server's hits exactly as
    its own (citation, tags, JSON)."""
    doc = data["document"]
    return Hit(
        internal_id=-1,
        passage_id=data["passage_id"],
        score=float(data["score"]),
        text=data["text"],
        language=data["language"],
        page_start=data["page_start"],
        page_end=data["page_end"],
        paragraphs=list(data["paragraphs"]),
        heading_path=list(data.get("heading_path") or []),
        char_start=0,
        char_end=0,
        components=list(data["components"]),
        countries=list(data["countries"]),
        regions=list(data["regions"]),
        document=DocumentRef(**{k: doc.get(k) for k in DocumentRef.__dataclass_fields__}),
        highlighted=data.get("highlighted"),
        component_scores=dict(data.get("component_confidence") or {}),
        stages=list(data.get("stages") or []),
        stage_scores=dict(data.get("stage_confidence") or {}),
        articles=list(data.get("articles") or []),
        kind=data.get("kind") or "body",
        editions=list(data.get("editions") or []),
    )
