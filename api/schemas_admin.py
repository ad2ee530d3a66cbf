"""Request and response models of the admin endpoints: ``/v1/keys``, ``/v1/audit`` and
``/v1/admin/reindex``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from housing_kb.api.keys import Role


class KeyCreate(BaseModel):
    role: Role = Field(
        description="reader, contributor, editor or admin; each can do what the roles before it can."
    )
    # Stripped as the key store strips it, so a name of only spaces or control characters is a 422
    # naming the field, not a refusal from deeper down.
    name: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"
        ),
    ] = Field(description="Who or what the key is for, e.g. 'Nairobi desk'; no control characters.")


class KeyOut(BaseModel):
    key_id: str = Field(
        description="The key's public id: what `keys revoke` and `DELETE /v1/keys/{key_id}` take."
    )
    name: str = Field(description="Who or what the key is for.")
    role: Role = Field(description="What the key may do.")
    created_at: str = Field(description="When it was made (UTC, ISO 8601).")
    created_by: str = Field(description="Who made it: 'cli', or the admin key that did.")
    revoked_at: str | None = Field(default=None, description="When it was revoked; null while it works.")


class NewKeyOut(KeyOut):
    key: str = Field(
        description="The key to send as 'Authorization: Bearer KEY'. Shown this once: only a hash is kept."
    )


class KeysResponse(BaseModel):
    keys: list[KeyOut] = Field(
        description="Every key that still works, oldest first (with revoked ones on request)."
    )


class AuditEntryOut(BaseModel):
    seq: int = Field(description="Position in the append-only log.")
    at: str = Field(description="When (UTC, ISO 8601).")
    actor: str = Field(description="Who: 'cli', or the key (id and name) that made the request.")
    action: str = Field(description="What was done, e.g. key.create, key.revoke.")
    target: str = Field(description="What it was done to: a key id, a document id.")
    details: str = Field(description="What changed.")


class AuditResponse(BaseModel):
    total: int = Field(description="Entries in the log.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="Entries skipped, newest first.")
    entries: list[AuditEntryOut] = Field(description="The page of entries, newest first.")


class ReindexIn(BaseModel):
    mode: Literal["rebuild", "update"] = Field(
        default="rebuild",
        description="'rebuild': a fresh index from every document (the corpus manifest and the published"
        " contributions), built beside the live one from its cached vectors and swapped in when done;"
        " 'update': only what changed is processed again, and documents gone from the manifest are removed.",
    )
