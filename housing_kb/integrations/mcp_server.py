"""housing-kb as a Model Context Protocol server: an AI assistant gets tools to search the housing-policy
collection, answer with citations, find comparable country examples, write a brief, read a country's housing profile, and read documents
and passages. Served over stdio (``housing-kb mcp``) or streamable HTTP (``housing-kb mcp --http``) with
the official ``mcp`` SDK.

Every tool answers from the same functions as the HTTP API (and so with the same JSON shapes), and
every result carries its citations. The index opens on the first tool call, with only what a query
needs (no torch, no passage model), so a client lists the tools at once.

>>> server = build_server(Settings.from_env())   # doctest: +SKIP
>>> server.run("stdio")                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

from fastapi import HTTPException
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from housing_kb.config import Settings
from housing_kb.index.query.filters import COMPONENTS, STAGES

INSTRUCTIONS = (
    "A knowledge base of housing policy: national strategies, laws, slum-upgrading case studies, rights "
    "texts and UN-Habitat reports in Arabic, Chinese, English, French, Portuguese, Russian and Spanish. "
    "Ask in any of these languages. Quote passages with the citation each result gives (document, page, "
    "paragraph, passage id); passages are never translated. Tags follow the adequacy components of CESCR "
    "General Comment No. 4 plus sustainability, the housing supply-chain stages, countries (ISO alpha-3) "
    "and UN-Habitat regions; use list_facets to see the values and counts."
)

Countries = Annotated[
    list[str] | None,
    Field(description="Only passages about these countries (ISO 3166 alpha-3, e.g. KEN, BRA)."),
]
Regions = Annotated[
    list[str] | None,
    Field(
        description="Only these UN-Habitat regions: africa, arab_states, asia_pacific, europe, latin_america, north_america, global."
    ),
]
Components = Annotated[
    list[str] | None,
    Field(description=f"Only passages tagged with these adequacy components: {', '.join(COMPONENTS)}."),
]
Stages = Annotated[
    list[str] | None,
    Field(description=f"Only passages tagged with these supply-chain stages: {', '.join(STAGES)}."),
]
Languages = Annotated[
    list[str] | None,
    Field(description="Only passages in these languages (ISO 639-1: ar, en, es, fr, pt, ru, zh)."),
]
DocumentTypes = Annotated[
    list[str] | None, Field(description="Only these document types (see list_facets for the values).")
]


class _Index:
    """The search engine, opened on first use and shared by every tool call."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Any = None
        self._lock = threading.Lock()

    def engine(self) -> Any:
        from housing_kb.index.query.engine import SearchEngine
        from housing_kb.models.registry import load_query_embedder

        with self._lock:
            if self._engine is None:
                self._engine = SearchEngine.open(self.settings, load_query_embedder(self.settings))
        return self._engine.pinned()


def _user_error(exc: Exception) -> ToolError:
    """An error the caller can fix, in one line (the message names the parameter)."""
    if isinstance(exc, HTTPException):
        return ToolError(str(exc.detail))
    return ToolError(str(exc))


def _checked(response: Any) -> Any:
    """A route's result, or its JSON error as a ToolError (the routes answer 4xx as JSONResponse)."""
    body = getattr(response, "body", None)
    if body is not None and getattr(response, "status_code", 200) >= 400:
        raise ToolError(json.loads(body).get("message", "invalid request"))
    return response


def build_server(settings: Settings) -> MCPServer:
    """The MCP server with housing-kb's tools over the index at ``settings.index_dir``."""
    from housing_kb.api.routers import answers, documents, search
    from housing_kb.api.schemas import SearchRequest
    from housing_kb.api.schemas_answers import AskRequest, BriefRequest
    from housing_kb.api.schemas_countries import CountryProfileOut
    from housing_kb.index.answers.countries import UnknownCountry
    from housing_kb.index.answers.countries import country_profile as profile_of

    index = _Index(settings)
    server = MCPServer("housing-kb", instructions=INSTRUCTIONS)

    @server.tool(name="search")
    def search_tool(
        query: Annotated[str, Field(description="A question or keywords, in any of the seven languages.")],
        k: Annotated[int, Field(ge=1, le=50, description="How many passages to return.")] = 10,
        component: Components = None,
        stage: Stages = None,
        region: Regions = None,
        country: Countries = None,
        document_type: DocumentTypes = None,
        language: Languages = None,
        year_from: Annotated[int | None, Field(description="Only documents from this year on.")] = None,
        year_to: Annotated[int | None, Field(description="Only documents up to this year.")] = None,
    ) -> dict[str, Any]:
        """Search the collection: the passages that best answer the query (hybrid keyword and multilingual
        semantic search, any language to any language), each with its text, citation (document, page,
        paragraph, passage id), language and tags. Filters are exact; values of one filter are ORed,
        different filters ANDed."""
        try:
            req = SearchRequest(
                q=query,
                k=k,
                component=component or [],
                stage=stage or [],
                region=region or [],
                country=country or [],
                document_type=document_type or [],
                language=language or [],
                year_from=year_from,
                year_to=year_to,
                highlight=False,
            )
            response = search.run_search(req, index.engine())
        except (ValueError, HTTPException) as exc:
            raise _user_error(exc) from exc
        return response.model_dump(exclude={"facets"})

    @server.tool()
    def ask(
        question: Annotated[str, Field(description="A policy question, in any of the seven languages.")],
        passages: Annotated[int, Field(ge=1, le=30, description="Top passages to draw sentences from.")] = 10,
        max_sentences: Annotated[int, Field(ge=1, le=20, description="Sentences in the answer.")] = 6,
        group_by: Annotated[
            str, Field(description="auto (comparative questions by country), country, component or none.")
        ] = "auto",
        component: Components = None,
        region: Regions = None,
        country: Countries = None,
        language: Languages = None,
    ) -> dict[str, Any]:
        """An extractive answer: the sentences of the best passages that answer the question, quoted
        verbatim in their own language, each with its citation. Comparative questions ("which
        countries…") are grouped by country."""
        try:
            req = AskRequest(
                q=question,
                passages=passages,
                max_sentences=max_sentences,
                group_by=group_by,  # type: ignore[arg-type]
                synthesis=False,
                component=component or [],
                region=region or [],
                country=country or [],
                language=language or [],
            )
            return answers.run_ask(req, index.engine()).model_dump()
        except (ValueError, HTTPException) as exc:
            raise _user_error(exc) from exc

    @server.tool()
    def examples(
        topic: Annotated[str, Field(description="The topic, e.g. 'slum upgrading' or 'rent control'.")],
        country: Annotated[
            str | None,
            Field(description="Reference country (ISO alpha-3): examples come from other countries."),
        ] = None,
        region: Annotated[str | None, Field(description="Reference UN-Habitat region.")] = None,
        component: Annotated[
            str | None, Field(description="Only passages tagged with this component.")
        ] = None,
        per_country: Annotated[int, Field(ge=1, le=10, description="At most this many per country.")] = 2,
        k: Annotated[int, Field(ge=1, le=50, description="How many examples.")] = 10,
        same_region: Annotated[bool, Field(description="Only countries of the reference's region.")] = False,
    ) -> dict[str, Any]:
        """Comparable country examples: the best passages on a topic from countries other than the
        reference, a few per country, each with country, region, tags, a verbatim excerpt and its citation."""
        try:
            result = answers.examples(
                index.engine(),
                q=topic,
                country=country,
                region=region,
                component=component,
                per_country=per_country,
                k=k,
                same_region=same_region,
            )
        except (ValueError, HTTPException) as exc:
            raise _user_error(exc) from exc
        return _checked(result).model_dump()

    @server.tool()
    def brief(
        topic: Annotated[str, Field(description="The brief's topic, e.g. 'security of tenure for renters'.")],
        examples: Annotated[int, Field(ge=1, le=30, description="Comparable examples to include.")] = 8,
        per_component: Annotated[int, Field(ge=1, le=10, description="Excerpts per adequacy component.")] = 3,
    ) -> str:
        """A cited evidence brief in Markdown: summary, the evidence per adequacy component by region and
        country, comparable examples, the evidence-gap map (as a table) and the references."""
        try:
            req = BriefRequest(topic=topic, format="md", examples=examples, per_component=per_component)
            response = _checked(answers.brief_post(req, index.engine()))
        except (ValueError, HTTPException) as exc:
            raise _user_error(exc) from exc
        return response.body.decode("utf-8")

    @server.tool()
    def get_document(
        document_id: Annotated[str, Field(description="A document id, as results give it (document.id).")],
    ) -> dict[str, Any]:
        """A document's metadata (title, type, countries, year, publisher, licence, source) and its
        passages in order, each with pages, paragraphs and tags."""
        try:
            return documents.get_document(document_id, index.engine()).model_dump()
        except HTTPException as exc:
            raise _user_error(exc) from exc

    @server.tool()
    def get_passage(
        passage_id: Annotated[str, Field(description="A passage id, as results give it (passage_id).")],
    ) -> dict[str, Any]:
        """One passage: its full text, citation, document and tags."""
        try:
            return documents.get_passage(passage_id, index.engine()).model_dump()
        except HTTPException as exc:
            raise _user_error(exc) from exc

    @server.tool()
    def country_profile(
        country: Annotated[str, Field(description="ISO 3166 alpha-3 code, e.g. KEN, BGD.")],
    ) -> dict[str, Any]:
        """A country's housing profile: for each SDG housing series (11.1.1 urban population in slums,
        basic and safely managed water and sanitation, electricity, clean cooking fuels) the latest value
        with its year, the previous value and trend, the urban/rural split, the region and world values
        and the source; then the collection's documents and passages about the country by adequacy
        component, and the components with no evidence. Missing figures say "no data", never 0."""
        try:
            return CountryProfileOut(**profile_of(index.engine(), country)).model_dump(exclude_none=True)
        except UnknownCountry as exc:
            raise _user_error(exc) from exc

    @server.tool()
    def list_facets(
        query: Annotated[
            str | None,
            Field(description="Count over this query's candidate passages; omitted: all passages."),
        ] = None,
        country: Countries = None,
        region: Regions = None,
        component: Components = None,
        language: Languages = None,
    ) -> dict[str, Any]:
        """The filter values and how many passages carry each: components, stages, regions, countries,
        document types, languages and years."""
        try:
            return search.facets(
                index.engine(),
                q=query,
                component=component or [],
                stage=[],
                min_confidence=None,
                region=region or [],
                country=country or [],
                document_type=[],
                language=language or [],
                year_from=None,
                year_to=None,
                mode="hybrid",
            ).model_dump()
        except (ValueError, HTTPException) as exc:
            raise _user_error(exc) from exc

    return server
