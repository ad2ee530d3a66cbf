"""``housing-kb ask``, ``housing-kb examples`` and ``housing-kb brief``, registered on the main CLI app.

housing-kb ask "Which countries protect renters from eviction?"
housing-kb examples "slum upgrading" --country KEN --per-country 1
housing-kb brief "slum upgrading" --format pdf -o slum-upgrading.pdf
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from housing_kb.api.cli import EmbedderOpt, IndexOpt, ServerOpt, _fail, _settings, app, user_errors
from housing_kb.api.remote import Server


def _engine(index: Path | None, embedder: str | None):
    """The index opened with only what a query needs (no torch, no passage model)."""
    from housing_kb.index.query.engine import SearchEngine
    from housing_kb.models.registry import load_query_embedder

    settings = _settings(index, embedder=embedder)
    return SearchEngine.open(settings, load_query_embedder(settings))


@app.command()
@user_errors
def ask(
    question: Annotated[str, typer.Argument(help="A policy question, in any UN language.")],
    passages: Annotated[int, typer.Option(help="Top passages to draw sentences from.", min=1, max=30)] = 10,
    max_sentences: Annotated[
        int, typer.Option("--sentences", help="Sentences in the answer.", min=1, max=20)
    ] = 6,
    group_by: Annotated[str, typer.Option(help="auto, country, component or none.")] = "auto",
    synthesis: Annotated[
        bool, typer.Option(help="Add an LLM synthesis when HOUSING_KB_LLM_BASE_URL / _MODEL are set.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Answer from the closest passages even when none is a good match.")
    ] = False,
    index: IndexOpt = None,
    embedder: EmbedderOpt = None,
    server: ServerOpt = None,
) -> None:
    """A cited extractive answer (verbatim sentences with document, page, paragraph, passage id)."""
    from housing_kb.index.answers.extractive import answer_question, answer_text
    from housing_kb.index.answers.synthesis import LLMConfig, SynthesisError

    if group_by not in ("auto", "country", "component", "none"):
        _fail(f"--group-by must be auto, country, component or none (got {group_by!r})")
    remote = Server.from_option(server, _settings())
    if remote is not None:
        data = remote.get_json(
            "/v1/ask",
            {
                "q": question,
                "passages": passages,
                "max_sentences": max_sentences,
                "group_by": group_by,
                "synthesis": synthesis,
                "force": force,
            },
        )
    else:
        try:
            llm = LLMConfig.from_settings(_settings(index, embedder=embedder)) if synthesis else None
        except SynthesisError as exc:
            _fail(str(exc))
        data = answer_question(
            _engine(index, embedder),
            question,
            passages=passages,
            max_sentences=max_sentences,
            group_by=group_by,
            llm=llm,  # type: ignore[arg-type]
            force=force,
        ).to_dict()
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else answer_text(data))
    if data.get("synthesis_error"):
        typer.secho(f"synthesis skipped: {data['synthesis_error']}", fg=typer.colors.YELLOW, err=True)


@app.command()
@user_errors
def examples(
    topic: Annotated[str | None, typer.Argument(help="Topic or question (optional with --passage).")] = None,
    country: Annotated[
        str | None, typer.Option(help="Reference country (ISO alpha-3); examples come from others.")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Reference region.")] = None,
    component: Annotated[str | None, typer.Option(help="Only passages tagged with this component.")] = None,
    passage: Annotated[str | None, typer.Option("--passage", help="Reference passage id.")] = None,
    per_country: Annotated[int, typer.Option(help="At most this many per country.", min=1, max=10)] = 2,
    k: Annotated[int, typer.Option("-k", help="Number of examples.", min=1, max=50)] = 10,
    same_region: Annotated[bool, typer.Option(help="Only countries of the reference's region.")] = False,
    shared_components: Annotated[
        bool, typer.Option(help="Only passages sharing the reference's components.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    index: IndexOpt = None,
    embedder: EmbedderOpt = None,
    server: ServerOpt = None,
) -> None:
    """Comparable examples: the best passages on a topic from other countries, diversified (MMR)."""
    from housing_kb.index.answers.examples import find_examples
    from housing_kb.index.answers.extractive import region_label

    params = {
        "country": country,
        "region": region,
        "component": component,
        "per_country": per_country,
        "k": k,
        "same_region": same_region,
        "shared_components": shared_components,
    }
    remote = Server.from_option(server, _settings())
    if remote is not None:
        data = remote.get_json("/v1/examples", params | {"q": topic, "passage_id": passage})
    else:
        data = find_examples(_engine(index, embedder), topic, passage_id=passage, **params).to_dict()  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if not data["examples"]:
        typer.echo("No examples from other countries found.")
    for n, e in enumerate(data["examples"], 1):
        tags = ", ".join(e["components"])
        typer.echo(f"{n}. {e['country_name']} ({region_label(e['region'])})" + (f" [{tags}]" if tags else ""))
        typer.echo(f"   {e['excerpt'][:400]}" + ("…" if len(e["excerpt"]) > 400 else ""))
        typer.echo(f"   {e['citation']['label']}")


@app.command()
@user_errors
def brief(
    topic: Annotated[str, typer.Argument(help="e.g. 'slum upgrading' or 'security of tenure for renters'.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, html, pdf or docx.")] = "md",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write [default brief-<topic>.<ext>].")
    ] = None,
    examples_n: Annotated[int, typer.Option("--examples", help="Comparable examples.", min=1, max=30)] = 8,
    per_component: Annotated[int, typer.Option(help="Excerpts per adequacy component.", min=1, max=10)] = 3,
    force: Annotated[
        bool, typer.Option("--force", help="Write the brief even when the collection holds no good match.")
    ] = False,
    index: IndexOpt = None,
    embedder: EmbedderOpt = None,
    server: ServerOpt = None,
) -> None:
    """A cited evidence brief: summary, evidence per adequacy component, examples, gap map, references."""
    from housing_kb.index.answers.briefs import FORMATS, build_brief, render_brief, slug
    from housing_kb.index.answers.gaps import heatmap_png

    if fmt not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    out = output or Path(f"brief-{slug(topic)}.{FORMATS[fmt][1]}")
    remote = Server.from_option(server, _settings())
    if remote is not None:
        body = {"topic": topic, "format": fmt, "examples": examples_n, "per_component": per_component}
        body["force"] = force
        data = remote.post_bytes("/v1/brief", body)
        out.write_bytes(data)
        typer.echo(f"wrote {out} ({len(data):,} bytes, from {remote.url})")
        return
    engine = _engine(index, embedder)
    result = build_brief(engine, topic, examples=examples_n, per_component=per_component, force=force)
    heatmap_name = None
    if fmt == "md":  # Markdown cannot embed the picture: write it beside the file
        image = out.with_name(out.stem + "-gaps.png")
        image.write_bytes(heatmap_png(result.gaps))
        heatmap_name = image.name
    data, _, _ = render_brief(result, fmt, heatmap_name=heatmap_name)
    out.write_bytes(data)
    typer.echo(f"wrote {out} ({len(data):,} bytes; {len(result.references)} references)")
