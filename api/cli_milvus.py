"""``housing-kb migrate``, registered on the main CLI app: copy the embedded index into Milvus.

housing-kb migrate --to milvus                                  # milvus-lite file beside the index
housing-kb migrate --to milvus --uri http://milvus:19530 --token root:Milvus
"""

from __future__ import annotations

from typing import Annotated

import typer

from housing_kb.api.cli import IndexOpt, _fail, _settings, app, user_errors
from housing_kb.index.store.lock import writer_lock
from housing_kb.ingest.search_backend import sync_search_backend


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
    citations) into a distributed engine, without re-embedding. The target's collections are replaced;
    `housing-kb ingest` with HOUSING_KB_BACKEND=milvus then keeps them in step, writing only what changed."""
    if to.strip().lower() != "milvus":
        _fail(f"--to: unknown engine {to!r}; the one supported is milvus")
    try:
        from housing_kb.index.adapters.milvus import MilvusTarget
    except ImportError:
        _fail("--to milvus needs pymilvus and milvus-lite: pip install pymilvus milvus-lite")
    s = _settings(index)
    target = MilvusTarget(
        uri=uri or s.milvus_target_uri,
        token=s.milvus_token if token is None else token,
        prefix=prefix or s.milvus_prefix,
    )
    with writer_lock(s.index_dir, what="migrate"):
        typer.echo(sync_search_backend(s, target=target, replace=True))
