"""``housing-kb keys create|list|revoke``: API keys for the server, registered on the main CLI app.

housing-kb keys create --role editor --name "Nairobi desk"
housing-kb keys list
housing-kb keys revoke 3f9a1c2b7d4e
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from housing_kb.api.cli import IndexOpt, _fail, _settings, app, user_errors
from housing_kb.api.keys import ROLES, KeyStore

keys_app = typer.Typer(
    help="API keys: who may read, contribute, edit and administer (kept beside the index).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


def _store(index) -> KeyStore:
    return KeyStore(_settings(index).platform_db)


@keys_app.command("create")
@user_errors
def create(
    role: Annotated[
        str, typer.Option(help=f"One of {', '.join(ROLES)}; each can do what the ones before it can.")
    ],
    name: Annotated[str, typer.Option(help="Who or what the key is for, e.g. 'Nairobi desk'.")],
    index: IndexOpt = None,
) -> None:
    """Make a key and print it once: only a salted hash of it is kept."""
    made = _store(index).create(role=role, name=name, by="cli")
    typer.echo(made.secret)
    typer.echo(
        f"key {made.key.key_id} ({made.key.role}, {made.key.name!r}): store it now, it cannot be shown again."
        " Send it as 'Authorization: Bearer KEY'.",
        err=True,
    )


@keys_app.command("list")
@user_errors
def list_keys(
    index: IndexOpt = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Also list revoked keys.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """The keys that work (never the keys themselves): id, role, name, when and by whom they were made."""
    keys = _store(index).list(include_revoked=revoked)
    for k in keys:
        if as_json:
            typer.echo(json.dumps(vars(k)))
        else:
            state = f"  revoked {k.revoked_at}" if k.revoked_at else ""
            typer.echo(f"{k.key_id}  {k.role:<11}  {k.name}  (made {k.created_at} by {k.created_by}){state}")
    if not keys and not as_json:
        typer.echo("no keys yet: housing-kb keys create --role admin --name NAME", err=True)


@keys_app.command("revoke")
@user_errors
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `keys list` shows it.")],
    index: IndexOpt = None,
) -> None:
    """Revoke a key at once: the next request that sends it gets 401."""
    if not _store(index).revoke(key_id, by="cli"):
        _fail(f"no working key with id {key_id!r} (see `housing-kb keys list`)")
    typer.echo(f"revoked key {key_id}")
