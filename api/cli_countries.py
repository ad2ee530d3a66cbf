"""``housing-kb country`` and ``housing-kb data import``, registered on the main CLI app.

housing-kb country KEN
housing-kb country BGD --json
housing-kb data import ~/Downloads/sdg-export.csv --retrieved 2026-11-30
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from housing_kb.api.cli import IndexOpt, ServerOpt, _fail, _settings, app, user_errors
from housing_kb.api.remote import Server

data_app = typer.Typer(help="Country data: the SDG housing series stored in the index.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _value(v: dict[str, Any] | None, year: bool = True) -> str:
    if not v:
        return "no data"
    return f"{v['shown']} %" + (f" ({v['year']})" if year else "")


def print_profile(p: dict[str, Any]) -> None:
    typer.echo(f"{p['name']} ({p['iso3']}, M49 {p['m49']}) · {p['region_label'] or 'no UN-Habitat region'}")
    if not p["data_loaded"]:
        typer.echo("  The index holds no SDG series: run `housing-kb ingest` or `housing-kb data import`.")
    for s in p["series"]:
        typer.echo(f"\n  SDG {s['indicator']} {s['label']}: {_value(s['latest'])}")
        if s["status"] != "ok":
            continue
        if s["previous"]:
            t = s["trend"]
            typer.echo(
                f"    previous {_value(s['previous'])}; {t['change_points']:+.1f} points, {t['direction']}"
            )
        split = [f"{k} {_value(s[k])}" for k in ("urban", "rural") if s[k]]
        if split:
            typer.echo("    " + ", ".join(split))
        if s["region"]:
            r = s["region"]
            typer.echo(f"    {r['label']} {r['value']:.1f} % ({r['year']}, {r['method']})")
        if s["world"]:
            typer.echo(f"    world {_value(s['world'])}")
        typer.echo(f"    source: {s['source']}")
    e = p["evidence"]
    typer.echo(
        f"\n  Evidence in the collection: {e['documents']} documents, {e['passages']} passages about it."
    )
    for c in e["by_component"]:
        typer.echo(f"    {c['label']:<44} {c['passages']:>5}")
    typer.echo(f"  {p['evidence_note']}")


@app.command()
@user_errors
def country(
    iso3: Annotated[str, typer.Argument(help="ISO 3166 alpha-3 code, e.g. KEN.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's profile JSON.")] = False,
    index: IndexOpt = None,
    server: ServerOpt = None,
) -> None:
    """A country housing profile: the SDG housing figures (latest, trend, urban/rural, region, world, source)
    and what the collection holds about the country, with its evidence gaps."""
    remote = Server.from_option(server, _settings())
    if remote is not None:
        profile = remote.get_json(f"/v1/countries/{iso3.strip().upper()}", {})
    else:
        from housing_kb.index.answers.countries import CollectionView, country_profile
        from housing_kb.index.store.index_store import IndexStore

        store = IndexStore.open(_settings(index).index_dir, readonly=True)
        profile = country_profile(CollectionView(store), iso3)
    if as_json:
        typer.echo(json.dumps(profile, indent=2, ensure_ascii=False))
    else:
        print_profile(profile)


@data_app.command("import")
@user_errors
def data_import(
    path: Annotated[
        Path, typer.Argument(help="An SDG API CSV export, a DDF datapoints file, or a DDF folder.")
    ],
    source: Annotated[
        str | None, typer.Option(help="Source line to store (default: from the format).")
    ] = None,
    retrieved: Annotated[
        str | None, typer.Option(help="Retrieval date YYYY-MM-DD (default: the file's date).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; store nothing.")] = False,
    index: IndexOpt = None,
) -> None:
    """Load a newer export of the SDG housing series: validated first (every problem named by file, line
    and field), then, in one transaction, each series and area it holds replaces the stored values of
    that area (areas the export leaves out keep theirs)."""
    from housing_kb.index.store.index_store import IndexStore
    from housing_kb.index.store.lock import writer_lock
    from housing_kb.ingest.search_backend import sync_search_backend
    from housing_kb.schema.indicators import SERIES, changes, read_indicators

    data = read_indicators(path, source=source, retrieved=retrieved)
    if not data.observations:
        _fail(f"{path}: no value of the housing series ({', '.join(SERIES)})")
    s = _settings(index)
    with writer_lock(s.index_dir, what="data import"):
        store = IndexStore.open(s.index_dir, create=False)
        report = changes(store.indicator_observations(), data)
        if not dry_run:
            store.import_indicators(data)
            # servers on Milvus read the series from the deployment, not from the index directory
            synced = sync_search_backend(s, show_progress=False)
            if synced:
                typer.echo(synced)
    typer.echo(
        f"{path}: {len(data.observations)} values of {len(data.series)} series ({data.source}, retrieved {data.retrieved})"
    )
    for change in report:
        typer.echo("  " + change.line())
    for reason, n in sorted(data.skipped.items()):
        typer.echo(f"  skipped {n} rows: {reason}")
    typer.echo("dry run: nothing stored" if dry_run else f"stored in {s.index_dir}")
