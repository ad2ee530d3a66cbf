"""Where users meet housing-kb outside its page: the query-only CLI (and the CLI against a server), the
LlamaIndex retriever and reader, and the MCP server, all over the session's small real index
(conftest.SMALL_INDEX_DOCUMENTS) served by a real HTTP server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import SMALL_INDEX_DOCUMENTS, index_env, private_copy, serve_in_thread
from llama_index.core.vector_stores import FilterCondition, MetadataFilter, MetadataFilters

from housing_kb.api.app import create_app
from housing_kb.index.query.engine import SearchEngine
from housing_kb.integrations.llama_index import (
    HousingKBReader,
    HousingKBRetriever,
    UnsupportedFilter,
    to_filters,
)

pytestmark = pytest.mark.model

HOUSING_KB = str(Path(sys.executable).with_name("housing-kb"))


@pytest.fixture(scope="module")
def server_url(small_index, e5_embedder):
    engine = SearchEngine.open(small_index, embedder=e5_embedder)
    with serve_in_thread(create_app(small_index, engine=engine)) as url:
        yield url


def _run_cli(python_code: str, settings) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", python_code],
        env=index_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )


# ---------------------------------------------------------------- the CLI


def test_cli_search_loads_no_torch_and_prints_the_servers_hits(small_index, server_url):
    query = "住房租赁合同"
    code = (
        "import sys\n"
        "from housing_kb.api.cli import app\n"
        f"try:\n    app(['search', {query!r}, '-k', '5', '--json'])\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    done = _run_cli(code, small_index)
    assert done.returncode == 0, done.stderr[-2000:]
    printed, heavy = done.stdout.rsplit("HEAVY=", 1)
    assert heavy.strip() == "", f"a query-time command imported {heavy.strip()}"
    local = [h["passage_id"] for h in json.loads(printed)["hits"]]
    served = httpx.get(server_url + "/v1/search", params={"q": query, "k": 5}, timeout=60).json()
    assert local, "the Chinese lease law should match"
    assert local == [h["passage_id"] for h in served["hits"]]


def test_cli_with_server_prints_what_it_prints_locally(small_index, server_url):
    env = index_env(small_index)
    args = [HOUSING_KB, "search", "informal settlement workers", "-k", "4", "--json"]
    local = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    remote = subprocess.run(
        args, env=env | {"HOUSING_KB_SERVER": server_url}, capture_output=True, text=True, timeout=600
    )
    assert local.returncode == 0 and remote.returncode == 0, local.stderr[-1000:] + remote.stderr[-1000:]
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    answer = subprocess.run(
        [HOUSING_KB, "ask", "How do residents of Mukuru earn a living?", "--server", server_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert answer.returncode == 0, answer.stderr[-1000:]
    assert "[ke-mukuru:" in answer.stdout  # every quoted sentence carries its passage id


def test_cli_with_server_names_a_bad_parameter_and_an_unreachable_server(small_index, server_url):
    env = index_env(small_index)
    bad = subprocess.run(
        [HOUSING_KB, "search", "rent", "--country", "XXX", "--server", server_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "country" in bad.stderr and "XXX" in bad.stderr and "Traceback" not in bad.stderr
    gone = subprocess.run(
        [HOUSING_KB, "search", "rent", "--server", "http://127.0.0.1:9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gone.returncode == 2
    assert "cannot reach the server at http://127.0.0.1:9" in gone.stderr


def test_unchanged_reingest_loads_no_model(small_index, tmp_path):
    copy = private_copy(small_index, tmp_path)  # an ingest takes the writer lock: not the shared index
    code = (
        "import sys\n"
        "from housing_kb.api.cli import app\n"
        "try:\n    app(['ingest', '--no-progress'])\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "from housing_kb.models import registry\n"
        "print('LOADED=%d TORCH=%s' % (len(registry._loaded), 'torch' in sys.modules))\n"
    )
    done = _run_cli(code, copy)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{len(SMALL_INDEX_DOCUMENTS)} unchanged" in done.stdout
    assert "LOADED=0 TORCH=False" in done.stdout


# ---------------------------------------------------------------- LlamaIndex


def test_metadata_filters_map_onto_exact_filters():
    f = to_filters(
        MetadataFilters(
            filters=[
                MetadataFilter(key="country", value=["ken", "UGA"], operator="in"),
                MetadataFilter(key="component", value="security_of_tenure"),
                MetadataFilter(key="year", value=2015, operator=">="),
                MetadataFilter(key="year", value=2022, operator="<"),
            ]
        )
    )
    assert f.countries == ["KEN", "UGA"]
    assert f.components == ["security_of_tenure"]
    assert (f.year_from, f.year_to) == (2015, 2021)
    either = to_filters(
        MetadataFilters(
            filters=[MetadataFilter(key="language", value="es"), MetadataFilter(key="language", value="pt")],
            condition=FilterCondition.OR,
        )
    )
    assert either.languages == ["es", "pt"]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([MetadataFilter(key="author", value="x")], "unknown filter key 'author'"),
        ([MetadataFilter(key="country", value="KEN", operator="!=")], "operator '!='"),
        ([MetadataFilter(key="year", value=2020, operator="in")], "filter 'year'"),
        ([MetadataFilter(key="country", value="KEN"), MetadataFilter(key="country", value="UGA")], "twice"),
    ],
)
def test_a_filter_without_an_exact_equivalent_is_an_error(filters, message):
    with pytest.raises(UnsupportedFilter, match=message):
        to_filters(MetadataFilters(filters=filters))
    with pytest.raises(UnsupportedFilter, match="OR across different keys"):
        to_filters(
            MetadataFilters(
                filters=[
                    MetadataFilter(key="country", value="KEN"),
                    MetadataFilter(key="language", value="en"),
                ],
                condition=FilterCondition.OR,
            )
        )


@pytest.fixture
def in_process(small_index, monkeypatch):
    """The environment an in-process retriever reads its settings from (backend included), pointing
    at the small index."""
    for name, value in index_env(small_index).items():
        monkeypatch.setenv(name, value)
    return small_index


def test_retriever_query_engine_answers_from_our_passages_with_their_citations(in_process):
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    retriever = HousingKBRetriever(index_dir=in_process.index_dir, similarity_top_k=3)
    response = RetrieverQueryEngine.from_args(retriever, llm=MockLLM()).query("workers in Mukuru")
    assert response.source_nodes, "the query engine retrieved nothing"
    meta = response.source_nodes[0].node.metadata
    assert meta["document_id"] == "ke-mukuru"
    assert meta["citation"].endswith(f"[{meta['passage_id']}]")
    assert response.source_nodes[0].node.node_id == meta["passage_id"]
    assert {"title", "language", "components", "countries", "regions", "url", "paragraphs"} <= set(meta)
    # MockLLM echoes its prompt: the passage text reached the LLM, with the citation but not the ids
    assert "Voices of Mukuru" in str(response)


def test_retriever_filters_are_exact_in_process_and_against_a_server(in_process, server_url):
    only_china = MetadataFilters(filters=[MetadataFilter(key="country", value="CHN")])
    local = HousingKBRetriever(index_dir=in_process.index_dir, similarity_top_k=5, filters=only_china)
    remote = HousingKBRetriever(server_url=server_url, similarity_top_k=5, filters=only_china)
    query = "tenancy contracts and rent"
    local_nodes, remote_nodes = local.retrieve(query), remote.retrieve(query)
    assert local_nodes and all(n.node.metadata["document_id"] == "cn-guangdong-lease" for n in local_nodes)
    assert [n.node.node_id for n in remote_nodes] == [n.node.node_id for n in local_nodes]
    assert remote_nodes[0].node.metadata == local_nodes[0].node.metadata


def test_reader_yields_every_passage_in_order_with_its_neighbours(small_index):
    reader = HousingKBReader(small_index.index_dir)
    docs = reader.load_data(document_ids=["ke-mukuru"])
    from housing_kb.index.store.index_store import IndexStore

    stored = IndexStore.open(small_index.index_dir, readonly=True).passages_of("ke-mukuru")
    assert [d.doc_id for d in docs] == [r.passage_id for r in stored]
    assert docs[0].metadata["title"] == "Voices of Mukuru"
    nodes = reader.load_nodes(document_ids=["ke-mukuru"])
    assert nodes[1].prev_node.node_id == nodes[0].node_id
    assert nodes[0].next_node.node_id == nodes[1].node_id
    assert nodes[0].source_node.node_id == "ke-mukuru"
    with pytest.raises(ValueError, match="no document with id 'nope'"):
        reader.load_data(document_ids=["nope"])


# ---------------------------------------------------------------- MCP


def test_mcp_server_over_stdio_lists_its_tools_and_answers_with_citations(small_index):
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def session_calls():
        params = StdioServerParameters(command=HOUSING_KB, args=["mcp"], env=index_env(small_index))
        async with stdio_client(params) as streams, ClientSession(*streams) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            found = await session.call_tool("search", {"query": "workers in Mukuru", "k": 2})
            first = json.loads(found.content[0].text)["hits"][0]
            passage = await session.call_tool("get_passage", {"passage_id": first["passage_id"]})
            missing = await session.call_tool("get_passage", {"passage_id": "no-such-passage"})
            kenya = await session.call_tool("country_profile", {"country": "KEN"})
            nowhere = await session.call_tool("country_profile", {"country": "XXX"})
            return tools, found, first, passage, missing, kenya, nowhere

    tools, found, first, passage, missing, kenya, nowhere = anyio.run(session_calls)
    expected = {
        "search",
        "ask",
        "examples",
        "brief",
        "get_document",
        "get_passage",
        "list_facets",
        "country_profile",
    }
    assert expected <= set(tools)
    assert all(t.description for t in tools.values())
    country = tools["search"].input_schema["properties"]["country"]
    assert "ISO" in country["description"]
    assert not found.is_error
    assert first["citation"]["label"].endswith(f"[{first['passage_id']}]")
    detail = json.loads(passage.content[0].text)
    assert detail["passage_id"] == first["passage_id"] and detail["citation"]["document_id"] == "ke-mukuru"
    assert missing.is_error and "no passage with id 'no-such-passage'" in missing.content[0].text
    slums = next(s for s in json.loads(kenya.content[0].text)["series"] if s["series"] == "en_lnd_slum")
    assert (slums["latest"]["value"], slums["latest"]["year"]) == (46.5, 2018) and slums["source"]
    assert nowhere.is_error and "'XXX' is not an ISO 3166 alpha-3" in nowhere.content[0].text
