"""``housing-kb migrate``, registered on the main CLI app: copy the embedded index into Milvus.

housing-kb migrate --to milvus                                  # milvus-lite file beside the index
housing-kb migrate --to milvus --uri http://milvus:19530 --token root:Milvus
"""

from __future__ import annotations

from typing import Annotated

import typer

from housing_kb.api.cli import IndexOpt, _fail, _settings, app, user_errors


@app.command()
@user_errors
def migrate(
    to: Annotated[str, typer.Option("--to", help="The engine to copy the index into: milvus.")],
    uri: Annotated[
        str | None,
        typer.Option(
            help="Milvus: a server URI (http://host:19530) or a milvus-lite file "
            "[default: HOUSING_KB_MILVUS_URI, else milvus.db beside the index].",
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Milvus token, user:password [default: HOUSING_KB_MILVUS_TOKEN].")
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(help="Collection name prefix [default: HOUSING_KB_MILVUS_PREFIX, else housing_kb]."),
    ] = None,
    index: IndexOpt = None,
) -> None:
    """Copy the embedded index (FAISS vectors, BM25 weights, filterable fields, passage texts and
    citations) into a distributed engine, without re-embedding. The target's collections are replaced."""
    if to.strip().lower() != "milvus":
        _fail(f"--to: unknown engine {to!r}; the one supported is milvus")
    try:
        from housing_kb.index.adapters.milvus import MilvusTarget
        from housing_kb.index.adapters.milvus import migrate as copy_into
    except ImportError:
        _fail("--to milvus needs pymilvus and milvus-lite: pip install pymilvus milvus-lite")
    from tqdm import tqdm

    from housing_kb.index.intent import filter_table_with_mentions
    from housing_kb.index.lexical_sync import open_lexical
    from housing_kb.index.store import IndexStore

    s = _settings(index)
    store = IndexStore.open(s.index_dir, readonly=True)
    target = MilvusTarget(
        uri=uri or s.milvus_target_uri,
        token=s.milvus_token if token is None else token,
        prefix=prefix or s.milvus_prefix,
    )
    bars: dict[str, tqdm] = {}

    def progress(channel: str, done: int, total: int) -> None:
        bar = bars.setdefault(channel, tqdm(total=total, desc=f"milvus {channel}", unit="passage"))
        bar.update(done - bar.n)

    table, _ = filter_table_with_mentions(store)
    written = copy_into(store, table, open_lexical(store), target, progress=progress)
    for bar in bars.values():
        bar.close()
    summary = ", ".join(f"{channel} {n}" for channel, n in written.items())
    typer.echo(f"copied into Milvus at {target.uri} (prefix {target.prefix}): {summary} passages")
