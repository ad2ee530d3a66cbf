"""The FastAPI application. This module only assembles: logic lives in index/ and ingest/.

>>> app = create_app(Settings.from_env())   # doctest: +SKIP
>>> uvicorn.run(app)                        # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from housing_kb import __version__
from housing_kb.api.guards import MAX_BODY_BYTES, BodyLimit, TrustedHostMiddleware, allowed_hosts
from housing_kb.api.routers import answers, countries, documents, meta, search
from housing_kb.api.throttle import Busy
from housing_kb.config import Settings, env_int
from housing_kb.index.filters import InvalidFilter
from housing_kb.index.search import SearchEngine
from housing_kb.index.store import IndexError_

log = logging.getLogger("housing_kb.api")
STATIC_DIR = Path(__file__).parent / "static"


def cors_origins_from_env() -> list[str]:
    raw = os.environ.get("HOUSING_KB_CORS_ORIGINS", "")
    return [o.strip() for o in raw.split(",") if o.strip()]


def create_app(
    settings: Settings | None = None,
    *,
    engine: SearchEngine | None = None,
    cors_origins: list[str] | None = None,
    bind: str = "127.0.0.1",
) -> FastAPI:
    """Build the app around one shared, read-only :class:`SearchEngine` (opened here, once).

    ``bind`` is the address the server listens on: with ``HOUSING_KB_ALLOWED_HOSTS`` unset, the
    ``Host`` header must name it or a loopback name (api/guards.py)."""
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="housing-kb",
        version=__version__,
        description=(
            "Multilingual semantic search over housing policy: national strategies, laws, rights texts, "
            "slum-upgrading case studies and UN-Habitat reports, in the six UN languages. Every hit is a cited "
            "excerpt (document, page, paragraph) tagged with the adequacy components of CESCR General Comment "
            "No. 4, countries and UN-Habitat regions."
        ),
    )
    if engine is None:
        engine = SearchEngine.open(settings)
        engine.warm_up()
    app.state.engine = engine
    origins = cors_origins if cors_origins is not None else cors_origins_from_env()
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    # The last added runs first: a foreign Host is refused before its body is read.
    app.add_middleware(
        BodyLimit, max_bytes=env_int("HOUSING_KB_MAX_BODY_BYTES", MAX_BODY_BYTES, minimum=1024)
    )
    app.add_middleware(
        TrustedHostMiddleware,
        allowed_hosts=allowed_hosts(bind, os.environ.get("HOUSING_KB_ALLOWED_HOSTS", "")),
    )

    @app.exception_handler(InvalidFilter)
    async def _invalid_filter(_: Request, exc: InvalidFilter) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "error": "invalid_filter",
                "message": str(exc),
                "parameter": exc.parameter,
                "valid": exc.valid,
            },
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        first_param = None
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path")]
            name = ".".join(loc) or "request"
            first_param = first_param or name
            problems.append(f"{name}: {err.get('msg', 'invalid')}")
        return JSONResponse(
            status_code=422,
            content={"error": "invalid_parameter", "message": "; ".join(problems), "parameter": first_param},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        # keep the exception's headers: a 405 must say which methods are allowed (Allow)
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": kind, "message": str(exc.detail)},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Busy)
    async def _busy(_: Request, exc: Busy) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"error": "busy", "message": str(exc)},
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(IndexError_)
    async def _index_error(_: Request, exc: IndexError_) -> JSONResponse:
        log.error("index problem: %s", exc)
        return JSONResponse(status_code=503, content={"error": "index_unavailable", "message": str(exc)})

    app.include_router(search.router)
    app.include_router(documents.router)
    app.include_router(meta.router)
    app.include_router(answers.router)
    app.include_router(countries.router)
    if STATIC_DIR.is_dir():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="page")
    return app
