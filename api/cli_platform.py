"""The platform's commands, registered on the main CLI app: API keys, the contribution worker, and
the live collection written back as a manifest.

housing-kb keys create --role editor --name "Nairobi desk"
housing-kb keys list
housing-kb keys revoke 3f9a1c2b7d4e
housing-kb worker
housing-kb manifest export -o live_manifest.yaml
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
import yaml

from housing_kb.api.cli import IndexOpt, ManifestOpt, _fail, _settings, app, user_errors
from housing_kb.api.contributions import ContributionStore, published_entries
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


@app.command()
@user_errors
def worker(
    index: IndexOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Carry out the jobs waiting now, then stop.")] = False,
) -> None:
    """Carry out contribution jobs (extract and embed submissions, publish, unpublish, delete) until
    Ctrl-C; a server started with HOUSING_KB_WORKER=off leaves them to this process."""
    from housing_kb.api.worker import Worker

    s = _settings(index)
    job_worker = Worker(s)
    if once:
        done = 0
        while job_worker.run_once():
            done += 1
        typer.echo(f"{done} jobs carried out")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    typer.echo(
        f"worker {job_worker.name}: jobs of {s.platform_db} into {s.index_dir}. Ctrl-C to stop.", err=True
    )
    job_worker.run_until(stop)


manifest_app = typer.Typer(help="The collection as a manifest.", no_args_is_help=True)
app.add_typer(manifest_app, name="manifest")


@manifest_app.command("export")
@user_errors
def manifest_export(
    index: IndexOpt = None,
    manifest: ManifestOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: print).")
    ] = None,
) -> None:
    """The live collection as one manifest: the corpus manifest's entries and every published
    contribution (its file under uploads/, with its checksum). Ingesting it gives the same index."""
    from housing_kb.ingest.manifest import load_manifest

    s = _settings(index, manifest=manifest)
    declared = load_manifest(s.manifest_path, strict=False)
    entries = [*declared.documents, *published_entries(ContributionStore(s.platform_db))]
    documents = [e.model_dump(mode="json", exclude_none=True) for e in entries]
    text = yaml.safe_dump({"version": 1, "documents": documents}, allow_unicode=True, sort_keys=False)
    if output is None:
        typer.echo(text, nl=False)
        return
    partial = output.with_name(f".{output.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(output)
    typer.echo(
        f"{len(entries)} documents ({len(entries) - len(declared.documents)} contributed) -> {output}",
        err=True,
    )
