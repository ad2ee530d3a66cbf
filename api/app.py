"""The FastAPI application. This module only assembles: logic lives in index/ and ingest/.

>>> app = create_app(Settings.from_env())   # doctest: +SKIP
>>> uvicorn.run(app)                        # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from housing_kb import __version__
from housing_kb.api.access import AccessDenied, AccessPolicy, RateLimited, reader
from housing_kb.api.contributions import ContributionStore
from housing_kb.api.guards import BodyLimit, TrustedHostMiddleware, allowed_hosts
from housing_kb.api.keys import KeyStore
from housing_kb.api.routers import admin, answers, contributions, countries, documents, meta, search
from housing_kb.api.throttle import Busy
from housing_kb.api.worker import Worker, WorkerThread
from housing_kb.config import Settings
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.query.filters import InvalidFilter
from housing_kb.index.store.index_store import IndexError_

log = logging.getLogger("housing_kb.api")
STATIC_DIR = Path(__file__).parent / "static"
API_PREFIX = "/v1"
#: Routers that were served without a prefix before /v1: their old paths stay for one release, deprecated.
READING_ROUTERS = (search.router, documents.router, meta.router, answers.router)


def create_app(
    settings: Settings | None = None,
    *,
    engine: SearchEngine | None = None,
    cors_origins: list[str] | None = None,
    bind: str = "127.0.0.1",
    worker: bool | Worker | None = None,
) -> FastAPI:
    """Build the app around one shared, read-only :class:`SearchEngine` (opened here, once).

    ``bind`` is the address the server listens on: with ``HOUSING_KB_ALLOWED_HOSTS`` unset, the
    ``Host`` header must name it or a loopback name (api/guards.py). ``worker`` runs the contribution
    worker in a thread of the server while it serves (default: unless ``HOUSING_KB_WORKER=off``, for a
    deployment that runs ``housing-kb worker`` processes instead), or this :class:`Worker`. Every other
    setting comes from ``settings`` (``cors_origins``, when given, replaces HOUSING_KB_CORS_ORIGINS)."""
    settings = settings or Settings.from_env()
    if worker is None:
        worker = settings.worker

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = None
        if worker:
            thread = WorkerThread(worker if isinstance(worker, Worker) else Worker(settings))
        if thread:
            thread.start()
        try:
            yield
        finally:
            if thread:
                thread.close()

    # FastAPIOffline serves /docs and /redoc with Swagger UI and ReDoc from its own package, not a CDN.
    app = FastAPIOffline(
        title="housing-kb",
        version=__version__,
        description=(
            "Multilingual semantic search over housing policy: national strategies, laws, rights texts, "
            "slum-upgrading case studies and UN-Habitat reports, in the six UN languages. Every hit is a cited "
            "excerpt (document, page, paragraph) tagged with the adequacy components of CESCR General Comment "
            "No. 4, countries and UN-Habitat regions.\n\nEvery endpoint is under /v1/. Reading is public unless "
            "the server sets HOUSING_KB_REQUIRE_KEY=1; writing needs a key of the role each endpoint names, "
            "sent as 'Authorization: Bearer KEY'. The paths without /v1 are deprecated aliases."
        ),
        lifespan=lifespan,
    )
    if engine is None:
        engine = SearchEngine.open(settings)
        engine.warm_up()
    app.state.engine = engine
    app.state.settings = settings
    app.state.access = AccessPolicy.from_settings(settings, KeyStore(settings.platform_db))
    app.state.contributions = ContributionStore(settings.platform_db)
    app.state.max_upload_bytes = settings.max_upload_mb * 1024 * 1024
    app.state.allow_private_urls = settings.allow_private_urls
    answers.limit_briefs(settings)
    origins = cors_origins if cors_origins is not None else list(settings.cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    # The last added runs first: a foreign Host is refused before its body is read.
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        uploads=(f"{API_PREFIX}/documents",),
        max_upload_bytes=app.state.max_upload_bytes,
    )
    app.add_middleware(
        TrustedHostMiddleware,
        allowed_hosts=allowed_hosts(bind, ",".join(settings.allowed_hosts)),
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

    @app.exception_handler(AccessDenied)
    async def _denied(_: Request, exc: AccessDenied) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status,
            content={
                "error": "unauthorized" if exc.status == 401 else "forbidden",
                "message": str(exc),
                "required_role": exc.needed,
            },
            headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None,
        )

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse(
            status_code=429,
            content={"error": "rate_limited", "message": str(exc)},
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(IndexError_)
    async def _index_error(_: Request, exc: IndexError_) -> JSONResponse:
        log.error("index problem: %s", exc)
        return JSONResponse(status_code=503, content={"error": "index_unavailable", "message": str(exc)})

    readers = [Depends(reader)]
    for router in (*READING_ROUTERS, countries.router):
        app.include_router(router, prefix=API_PREFIX, dependencies=readers)
    app.include_router(admin.router, prefix=API_PREFIX)
    app.include_router(contributions.router, prefix=API_PREFIX, dependencies=readers)
    for router in READING_ROUTERS:
        app.include_router(router, dependencies=readers, deprecated=True)
    if STATIC_DIR.is_dir():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="page")
    return app
