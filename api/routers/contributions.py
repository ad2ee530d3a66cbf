"""The write path: contributors submit documents, editors review, edit, publish, reject, unpublish and
delete.

Every change is in the audit log, and every step that touches the index is a job for the worker
(api/worker.py), so a request never waits for embedding and a search never sees half a document."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from housing_kb.api.access import require
from housing_kb.api.contributions import Contribution, ContributionStore, JobState
from housing_kb.api.deps import get_engine
from housing_kb.api.keys import ApiKey, KeyStore
from housing_kb.api.schemas import ErrorOut
from housing_kb.api.schemas_contributions import (
    ContactIn,
    JobOut,
    MetadataEdit,
    MetadataEditOut,
    RejectIn,
    ReviewItemOut,
    ReviewResponse,
    SubmissionOut,
)
from housing_kb.index.query.engine import SearchEngine
from housing_kb.ingest.manifest import validate_fields
from housing_kb.ingest.uploads import UploadError, fetch_url, read_in_chunks, store_upload
from housing_kb.text.geography import regions_for_countries

router = APIRouter(tags=["contributions"])
Contributor = Annotated[ApiKey, Depends(require("contributor"))]
Editor = Annotated[ApiKey, Depends(require("editor"))]
_AUTH = {
    401: {"model": ErrorOut, "description": "No key, or one that is unknown or revoked."},
    403: {"model": ErrorOut, "description": "The key's role is too low (the answer names the role needed)."},
}
_CONFLICT = {409: {"model": ErrorOut, "description": "The document is not in a state that allows this."}}
_INVALID = {422: {"model": ErrorOut, "description": "Invalid parameter (the message names it)."}}
DocumentId = Annotated[str, Path(description="The contributed document's id, as the submission answered it.")]
#: Fields of the manifest that an upload sets itself: a contributor may not point them anywhere.
_SET_BY_UPLOAD = ("path", "url", "sha256")


def _contributions(request: Request) -> ContributionStore:
    return request.app.state.contributions


def _audit(request: Request) -> KeyStore:
    return request.app.state.access.keys


def _problem(status: int, parameter: str, problems: list[str]) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={
            "error": "invalid_parameter" if status == 422 else "conflict",
            "message": "; ".join(problems),
            "parameter": parameter,
            "problems": problems,
        },
    )


def _json_object(raw: str, parameter: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, [f"{parameter}: not valid JSON ({exc.msg} at character {exc.pos})"]
    if not isinstance(value, dict):
        return None, [f"{parameter}: must be a JSON object of fields"]
    return value, []


def document_id_for(metadata: dict[str, Any], sha256: str) -> str:
    """The id declared in the metadata, else a slug of the title and the file's checksum.

    >>> document_id_for({"title": "Política Nacional de Vivienda 2030"}, "ab12" * 16)
    'politica-nacional-de-vivienda-2030-ab12ab12'
    """
    if isinstance(metadata.get("id"), str):
        return metadata["id"]
    ascii_title = (
        unicodedata.normalize("NFKD", str(metadata.get("title", ""))).encode("ascii", "ignore").decode()
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60].strip("-")
    return f"{slug or 'contribution'}-{sha256[:8]}"


def _metadata_problems(metadata: dict[str, Any]) -> list[str]:
    """Every problem of the metadata at once, each naming its field (as a manifest entry's would)."""
    problems = [
        f"metadata.{f}: set by the upload itself, not by metadata" for f in _SET_BY_UPLOAD if f in metadata
    ]
    fields = {k: v for k, v in metadata.items() if k not in _SET_BY_UPLOAD}
    fields.setdefault("id", "placeholder-id")
    fields |= {"path": "uploads/placeholder.txt", "sha256": "0" * 64}
    _, found = validate_fields(fields)
    return problems + [p.replace("field '", "metadata.", 1).replace("':", ":", 1) for p in found]


def _with_regions(metadata: dict[str, Any]) -> dict[str, Any]:
    """A contributor who names countries need not know UN-Habitat's regions: they follow from them."""
    countries = metadata.get("countries")
    if not metadata.get("regions") and isinstance(countries, list) and countries:
        regions = regions_for_countries([str(c).upper() for c in countries])
        if regions:
            return {**metadata, "regions": regions}
    return metadata


def _job_out(store: ContributionStore, job_id: str) -> JobOut:
    job = store.job(job_id)
    assert job is not None
    return JobOut.of(job)


@router.post(
    "/documents",
    response_model=SubmissionOut,
    status_code=202,
    responses=_AUTH
    | _CONFLICT
    | _INVALID
    | {
        413: {
            "model": ErrorOut,
            "description": "The file is over the upload limit (HOUSING_KB_MAX_UPLOAD_MB).",
        },
        415: {
            "model": ErrorOut,
            "description": "Not a PDF, DOCX, HTML, Markdown or text file (by its content).",
        },
        422: {
            "model": ErrorOut,
            "description": "Metadata or contact problems, all of them, each naming its field.",
        },
    },
    summary="Submit a document (contributor)",
)
def submit(
    request: Request,
    key: Contributor,
    engine: Annotated[SearchEngine, Depends(get_engine)],
    metadata: Annotated[
        str,
        Form(
            description="JSON object with the manifest's fields: title, document_type, regions (or countries,"
            " from which regions follow), countries, year, publisher, licence, language, source_url;"
            " optionally id (a slug)."
        ),
    ],
    contact: Annotated[str, Form(description='JSON object: {"name", "organisation", "email"}.')],
    file: Annotated[
        UploadFile | None, File(description="The document: PDF, DOCX, HTML, Markdown or text.")
    ] = None,
    url: Annotated[
        str | None, Form(description="Instead of a file: a public http(s) address to fetch it from.")
    ] = None,
) -> Any:
    """Takes a document for review. The answer comes at once (202) with a job to follow; the document
    is searchable only once an editor publishes it."""
    meta, problems = _json_object(metadata, "metadata")
    person, contact_problems = _json_object(contact, "contact")
    problems += contact_problems
    if meta is not None:
        meta = _with_regions(meta)
        problems += _metadata_problems(meta)
    if person is not None:
        try:
            person = ContactIn.model_validate(person).model_dump()
        except ValidationError as exc:
            problems += [f"contact.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    if (file is None) == (not url):
        problems.append("file: send either a file or a url, not both and not neither")
    if problems:
        first = problems[0].split(":", 1)[0].split(".")[0]
        return _problem(422, first, problems)
    assert meta is not None and person is not None
    settings = request.app.state.settings
    uploads = settings.data_dir / "uploads"
    limit = request.app.state.max_upload_bytes
    try:
        if file is not None:
            filename = file.filename or "upload"
            sha, path = store_upload(read_in_chunks(file.file), uploads, filename=filename, max_bytes=limit)
        else:
            sha, path, filename = fetch_url(
                url, uploads, max_bytes=limit, allow_private=request.app.state.allow_private_urls
            )
    except UploadError as exc:
        return _problem(exc.status, exc.parameter, [str(exc)])
    store = _contributions(request)
    earlier = store.by_sha256(sha)
    if earlier is not None:
        same = SubmissionOut(
            document_id=earlier.document_id, job_id=earlier.job_id, status=earlier.state, duplicate=True
        )
        return JSONResponse(status_code=200, content=same.model_dump())
    live = next((d for d in engine.documents.values() if d.sha256 == sha), None)
    if live is not None:
        return _problem(409, "file", [f"this file is already in the collection as document {live.doc_id!r}"])
    document_id = document_id_for(meta, sha)
    if document_id in engine.documents or store.get(document_id) is not None:
        return _problem(
            409, "metadata", [f"metadata.id: a document {document_id!r} exists already; choose another id"]
        )
    job = store.submit(
        document_id=document_id,
        sha256=sha,
        path=path,
        filename=filename[:200],
        metadata={k: v for k, v in meta.items() if k != "id"},
        contact=person,
        submitted_by=key.actor,
    )
    _audit(request).audit(key.actor, "document.submit", document_id, f"{filename[:200]} sha256={sha[:12]}")
    return SubmissionOut(document_id=document_id, job_id=job.job_id, status=job.state)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses=_INVALID | {404: {"model": ErrorOut, "description": "No such job."}},
    summary="How a submission or deletion is going",
)
def job_status(
    request: Request, job_id: Annotated[str, Path(description="The id a submission or deletion answered.")]
) -> JobOut:
    store = _contributions(request)
    if store.job(job_id) is None:
        raise HTTPException(404, detail=f"no job with id {job_id!r}")
    return _job_out(store, job_id)


@router.get(
    "/review", response_model=ReviewResponse, responses=_AUTH | _INVALID, summary="Submissions for editors"
)
def review_queue(
    request: Request,
    _: Editor,
    state: Annotated[
        list[JobState], Query(description="Which submissions: those awaiting review by default (repeatable).")
    ] = ["review"],  # noqa: B006
) -> ReviewResponse:
    """Each with what extraction found (pages, language, passages, proposed tags, a sample) and its contact."""
    items = [_review_item(c) for c in _contributions(request).in_state(*state)]
    return ReviewResponse(total=len(items), items=items)


def _review_item(c: Contribution) -> ReviewItemOut:
    return ReviewItemOut(
        document_id=c.document_id,
        job_id=c.job_id,
        status=c.state,
        filename=c.filename,
        metadata=c.metadata,
        contact=c.contact,
        submitted_by=c.submitted_by,
        submitted_at=c.submitted_at,
        review=c.review,
        note=c.note,
    )


def _submission(request: Request, document_id: str) -> Contribution:
    found = _contributions(request).get(document_id)
    if found is None:
        raise HTTPException(404, detail=f"no contributed document with id {document_id!r}")
    return found


def _editor_step(
    request: Request, editor: ApiKey, document_id: str, to: JobState, allowed: tuple[str, ...], action: str
) -> JobOut:
    c = _submission(request, document_id)
    store = _contributions(request)
    if not store.request(c.job_id, to, expect=allowed):
        raise HTTPException(
            409, detail=f"{document_id!r} is {c.state}; {action} needs it {' or '.join(allowed)}"
        )
    _audit(request).audit(editor.actor, f"document.{action}", document_id)
    return _job_out(store, c.job_id)


@router.post(
    "/documents/{document_id}/publish",
    response_model=JobOut,
    status_code=202,
    responses=_AUTH | _CONFLICT | _INVALID,
    summary="Publish a reviewed submission (editor)",
)
def publish(request: Request, document_id: DocumentId, editor: Editor) -> JobOut:
    """The worker adds it to the live index; its job reaches 'published' when searches find it."""
    return _editor_step(request, editor, document_id, "publishing", ("review",), "publish")


@router.post(
    "/documents/{document_id}/unpublish",
    response_model=JobOut,
    status_code=202,
    responses=_AUTH | _CONFLICT | _INVALID,
    summary="Take a published contribution out of search (editor)",
)
def unpublish(request: Request, document_id: DocumentId, editor: Editor) -> JobOut:
    """It goes back to review: nothing is deleted, and it can be published again."""
    return _editor_step(request, editor, document_id, "unpublishing", ("published",), "unpublish")


@router.post(
    "/documents/{document_id}/reject",
    response_model=JobOut,
    responses=_AUTH | _CONFLICT | _INVALID,
    summary="Reject a submission, with a note (editor)",
)
def reject(request: Request, document_id: DocumentId, body: RejectIn, editor: Editor) -> JobOut:
    c = _submission(request, document_id)
    store = _contributions(request)
    if not store.move(c.job_id, "rejected", reason=body.note, expect=("review",)):
        raise HTTPException(
            409, detail=f"{document_id!r} is {c.state}; only a submission in review can be rejected"
        )
    store.set_note(document_id, body.note)
    _audit(request).audit(editor.actor, "document.reject", document_id, body.note[:200])
    return _job_out(store, c.job_id)


#: States in which the metadata may change: nothing is being extracted, published or removed.
_EDITABLE: tuple[JobState, ...] = ("review", "rejected", "published")


def _contribution_or_refusal(
    request: Request, document_id: str, engine: SearchEngine, action: str
) -> Contribution:
    """The contribution, or a 409 for a document of the corpus manifest (changed there) or a 404."""
    c = _contributions(request).get(document_id)
    if c is not None:
        return c
    if document_id in engine.documents:
        raise HTTPException(
            409,
            detail=f"{document_id!r} is declared in the corpus manifest, not contributed: {action} it there"
            " and run `housing-kb ingest`",
        )
    raise HTTPException(404, detail=f"no document with id {document_id!r}")


@router.patch(
    "/documents/{document_id}",
    response_model=MetadataEditOut,
    responses=_AUTH
    | _CONFLICT
    | {
        404: {"model": ErrorOut, "description": "No such document."},
        422: {"model": ErrorOut, "description": "Metadata problems, all of them, each naming its field."},
    },
    summary="Edit a contribution's metadata (editor)",
)
def edit_metadata(
    request: Request,
    document_id: DocumentId,
    body: MetadataEdit,
    editor: Editor,
    engine: Annotated[SearchEngine, Depends(get_engine)],
) -> Any:
    """Only the fields sent change. A published document is refreshed in the live index without
    re-embedding its passages (new countries re-tag them from their stored vectors; a new language or
    document type processes it again); searches see the change when its job is back at 'published'."""
    c = _contribution_or_refusal(request, document_id, engine, "edit")
    if c.state not in _EDITABLE:
        raise HTTPException(409, detail=f"{document_id!r} is {c.state}; edit it when that is done")
    edit = body.model_dump(mode="json", exclude_unset=True)
    metadata = {**c.metadata, **edit}
    if "countries" in edit and "regions" not in edit:
        metadata.pop("regions", None)  # they follow from the new countries
    metadata = {k: v for k, v in _with_regions(metadata).items() if v is not None}
    problems = _metadata_problems(metadata)
    if problems:
        return _problem(422, problems[0].split(":", 1)[0], problems)
    changed = sorted(f for f in metadata.keys() | c.metadata.keys() if metadata.get(f) != c.metadata.get(f))
    store = _contributions(request)
    if changed:
        # Stored before the worker is asked, so the publishing step reads the new metadata.
        store.set_metadata(document_id, metadata)
        if c.state == "published":
            store.request(c.job_id, "publishing", expect=("published",))
        _audit(request).audit(editor.actor, "document.edit", document_id, ", ".join(changed))
    return MetadataEditOut(
        document_id=document_id, changed=changed, metadata=metadata, job=_job_out(store, c.job_id)
    )


@router.delete(
    "/documents/{document_id}",
    response_model=JobOut,
    status_code=202,
    responses=_AUTH | _CONFLICT | _INVALID | {404: {"model": ErrorOut, "description": "No such document."}},
    summary="Delete a contributed document (editor)",
)
def delete(
    request: Request,
    document_id: DocumentId,
    editor: Editor,
    engine: Annotated[SearchEngine, Depends(get_engine)],
) -> JobOut:
    """Out of the index, its file and its staging copy gone; the audit log keeps the record."""
    store = _contributions(request)
    c = _contribution_or_refusal(request, document_id, engine, "remove")
    if c.state in ("extracting", "embedding", "publishing", "unpublishing"):
        raise HTTPException(409, detail=f"{document_id!r} is {c.state}; delete it when that is done")
    job = store.new_job(document_id, "delete")
    _audit(request).audit(editor.actor, "document.delete", document_id)
    return _job_out(store, job.job_id)
