"""``/v1/keys``, ``/v1/audit`` and ``/v1/admin/reindex``: what only an admin may do."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from housing_kb.api.access import require
from housing_kb.api.contributions import COLLECTION, ContributionStore
from housing_kb.api.keys import ApiKey, KeyStore
from housing_kb.api.schemas import MAX_LIST_OFFSET, ErrorOut
from housing_kb.api.schemas_admin import (
    AuditEntryOut,
    AuditResponse,
    KeyCreate,
    KeyOut,
    KeysResponse,
    NewKeyOut,
    ReindexIn,
)
from housing_kb.api.schemas_contributions import JobOut

router = APIRouter(tags=["admin"])
_ERRORS = {
    401: {"model": ErrorOut, "description": "No key, or one that is unknown or revoked."},
    403: {"model": ErrorOut, "description": "The key's role is below admin."},
    422: {"model": ErrorOut, "description": "Invalid parameter (the message names it)."},
}
Admin = Annotated[ApiKey, Depends(require("admin"))]


def _keys(request: Request) -> KeyStore:
    return request.app.state.access.keys


@router.get("/keys", response_model=KeysResponse, responses=_ERRORS, summary="List API keys")
def list_keys(
    request: Request,
    _: Admin,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys.")] = False,
) -> KeysResponse:
    return KeysResponse(
        keys=[KeyOut(**asdict(k)) for k in _keys(request).list(include_revoked=include_revoked)]
    )


@router.post("/keys", response_model=NewKeyOut, status_code=201, responses=_ERRORS, summary="Make an API key")
def create_key(request: Request, body: KeyCreate, admin: Admin) -> NewKeyOut:
    """The answer holds the key itself, once: store it now, it cannot be shown again."""
    made = _keys(request).create(role=body.role, name=body.name, by=admin.actor)
    return NewKeyOut(**asdict(made.key), key=made.secret)


@router.delete(
    "/keys/{key_id}",
    response_model=KeyOut,
    responses=_ERRORS | {404: {"model": ErrorOut, "description": "No working key with that id."}},
    summary="Revoke an API key",
)
def revoke_key(
    request: Request,
    key_id: Annotated[str, Path(description="The key's public id (key_id in GET /v1/keys).")],
    admin: Admin,
) -> KeyOut:

    keys = _keys(request)
    if not keys.revoke(key_id, by=admin.actor):
        raise HTTPException(404, detail=f"no working key with id {key_id!r}")
    return next(KeyOut(**asdict(k)) for k in keys.list(include_revoked=True) if k.key_id == key_id)


@router.get("/audit", response_model=AuditResponse, responses=_ERRORS, summary="The audit log")
def audit(
    request: Request,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=1000, description="Entries per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET, description="Entries to skip, newest first.")] = 0,
) -> AuditResponse:
    """Who made or revoked which key, and (with contributions) who changed which document, newest first."""
    total, entries = _keys(request).audit_entries(limit=limit, offset=offset)
    return AuditResponse(
        total=total, limit=limit, offset=offset, entries=[AuditEntryOut(**asdict(e)) for e in entries]
    )


@router.post(
    "/admin/reindex",
    response_model=JobOut,
    status_code=202,
    responses=_ERRORS | {409: {"model": ErrorOut, "description": "A re-index is queued or running already."}},
    summary="Re-index the whole collection",
)
def reindex(request: Request, admin: Admin, body: ReindexIn | None = None) -> JobOut:
    """A job for the worker; searches go on meanwhile and see the new index when it is done. Follow it
    with GET /v1/jobs/{job_id}: its reason says what the run did once it is 'reindexed'."""
    mode = (body or ReindexIn()).mode
    jobs: ContributionStore = request.app.state.contributions
    running = jobs.open_job("rebuild", "update")
    if running is not None:
        raise HTTPException(
            409, detail=f"a re-index ({running.action}, job {running.job_id}) is {running.state} already"
        )
    job = jobs.new_job(COLLECTION, mode)
    _keys(request).audit(admin.actor, "index.reindex", COLLECTION, mode)
    return JobOut(
        status=job.state, **{k: v for k, v in asdict(job).items() if k not in ("state", "attempts")}
    )
