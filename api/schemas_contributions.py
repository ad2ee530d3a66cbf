"""Request and response models of the contribution workflow: ``/v1/documents`` (submit, edit,
publish, reject, unpublish, delete), ``/v1/jobs/{id}`` and ``/v1/review``."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from housing_kb.api.contributions import Job, JobAction, JobState
from housing_kb.schema.vocabulary import DocumentType, Region

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")


class ContactIn(BaseModel):
    """Who answers for a contributed source; the email is shown only to editors."""

    name: str = Field(min_length=1, max_length=200, description="The contact person's name.")
    organisation: str | None = Field(default=None, max_length=200, description="Their organisation.")
    email: str = Field(max_length=254, description="Their email address (shown only to editors).")

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        if not _EMAIL.match(value.strip()):
            raise ValueError(f"{value[:60]!r} is not an email address")
        return value.strip()


class SubmissionOut(BaseModel):
    document_id: str = Field(description="The id the document will have once published.")
    job_id: str = Field(description="Ask GET /v1/jobs/{job_id} how it is going.")
    status: JobState = Field(description="The job's state now: 'queued' for a new submission.")
    duplicate: bool = Field(
        default=False, description="True when this file was submitted before: the answer is that submission."
    )


class JobOut(BaseModel):
    job_id: str = Field(description="The job's id.")
    document_id: str = Field(description="The document it is about; '*' for a re-index of the collection.")
    action: JobAction = Field(
        description="'submit' (a submission's whole course), 'delete', or a re-index: 'rebuild' or 'update'."
    )
    status: JobState = Field(
        description="queued, extracting, embedding, review (waiting for an editor), publishing, published;"
        " or rejected, failed; unpublishing; deleting, deleted; reindexing, reindexed."
    )
    reason: str | None = Field(
        description="Why it failed, the editor's note on a rejection, or what a re-index did."
    )
    created_at: str = Field(description="When the job was made (UTC, ISO 8601).")
    updated_at: str = Field(description="When its state last changed (UTC, ISO 8601).")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            job_id=job.job_id,
            document_id=job.document_id,
            action=job.action,
            status=job.state,
            reason=job.reason,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


class ReviewSummaryOut(BaseModel):
    pages: int = Field(description="Pages extracted (0 for a format without pages).")
    empty_pages: list[int] = Field(description="Pages that gave no text (scanned?).")
    language: str | None = Field(description="The document's language, detected or declared.")
    passages: int = Field(description="Passages the document was cut into.")
    warnings: list[str] = Field(description="What extraction noticed: damaged parts, replaced characters.")
    proposed_tags: dict[str, Any] = Field(
        description="The tags the taggers propose, counted over the passages."
    )
    sample: list[str] = Field(description="The first passages, as extracted.")


class ReviewItemOut(BaseModel):
    document_id: str = Field(description="The id the document will have once published.")
    job_id: str = Field(description="The submission's job.")
    status: JobState = Field(description="The submission's state.")
    filename: str = Field(description="The uploaded file's name, or the fetched URL's last path part.")
    metadata: dict[str, Any] = Field(description="The metadata as submitted (the manifest's fields).")
    contact: dict[str, Any] = Field(description="The contact person: name, organisation and email.")
    submitted_by: str = Field(description="The key that submitted it.")
    submitted_at: str = Field(description="When (UTC, ISO 8601).")
    review: ReviewSummaryOut | None = Field(description="What was extracted; null until extraction is done.")
    note: str | None = Field(description="The editor's note, when it was rejected.")


class ReviewResponse(BaseModel):
    total: int = Field(description="Submissions in the states asked for.")
    items: list[ReviewItemOut] = Field(description="Oldest first.")


class RejectIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="Why, for the contributor.")


class MetadataEdit(BaseModel):
    """An editor's change to a contribution's metadata: only the fields sent change; null clears one."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500, description="The document's title.")
    document_type: DocumentType | None = Field(default=None, description="What kind of document it is.")
    countries: list[str] | None = Field(
        default=None,
        max_length=300,
        description="ISO 3166 alpha-3 codes. When regions are not sent, they follow from these.",
    )
    regions: list[Region] | None = Field(default=None, max_length=20, description="UN-Habitat regions.")
    year: int | None = Field(default=None, description="Year of publication.")
    publisher: str | None = Field(default=None, max_length=500, description="Who published it.")
    licence: str | None = Field(default=None, max_length=200, description="Its licence.")
    language: str | None = Field(
        default=None,
        max_length=2,
        description="ISO 639-1 code; declares the language instead of detecting it (the document is"
        " processed again).",
    )
    source_url: str | None = Field(default=None, max_length=2000, description="Where the original is.")
    work_id: str | None = Field(
        default=None,
        max_length=100,
        description="The work this is an edition of (a slug shared by translations of one text).",
    )


class MetadataEditOut(BaseModel):
    document_id: str = Field(description="The document edited.")
    changed: list[str] = Field(description="The fields whose value changed (empty: nothing to do).")
    metadata: dict[str, Any] = Field(description="The metadata now (the manifest's fields).")
    job: JobOut = Field(
        description="The submission's job. A published document is 'publishing' until searches see the"
        " new metadata; one in review or rejected keeps its state."
    )
