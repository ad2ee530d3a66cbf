"""Cited briefs: every quotation is on its cited page, the gap map counts what the pool holds, and the
brief renders as Markdown, HTML, PDF (with the heatmap image) and DOCX, from Python, HTTP and the CLI."""

from __future__ import annotations

import io

import pytest
from conftest import SMALL_INDEX_DOCUMENTS, ingest_documents
from test_answers import assert_on_cited_page

from housing_kb.index.answers.briefs import build_brief, render_brief, slug
from housing_kb.index.answers.gaps import gap_map_from_hits
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.query.filters import COMPONENTS, REGIONS
from housing_kb.index.store.index_store import IndexStore

pytestmark = pytest.mark.model
TOPIC = "slum upgrading"
#: The documents of the index these tests were written for, from six countries, none in Chinese.
BRIEF_DOCUMENTS = (
    "ke-mukuru",
    "ug-kampala",
    "fj-hydroponics",
    "bo-lapaz",
    "fr-bidonvilles",
    "sa-royal-order",
)


# Own index: with no CJK font installed, a quotation from Guangdong's law leaves the PDF's text unreadable.
@pytest.fixture(scope="module")
def kb_settings(tmp_path_factory, corpus_dir, model_settings, e5_embedder):
    documents = {doc_id: SMALL_INDEX_DOCUMENTS[doc_id] for doc_id in BRIEF_DOCUMENTS}
    return ingest_documents(tmp_path_factory, "briefs", corpus_dir, model_settings, e5_embedder, documents)


@pytest.fixture(scope="module")
def engine(kb_settings, e5_embedder):
    return SearchEngine.open(kb_settings, embedder=e5_embedder)


@pytest.fixture(scope="module")
def brief(engine):
    return build_brief(engine, TOPIC, per_component=3, examples=6)


@pytest.fixture(scope="module")
def client(kb_settings, engine):
    from fastapi.testclient import TestClient

    from housing_kb.api.app import create_app

    with TestClient(create_app(kb_settings, engine=engine), base_url="http://localhost") as c:
        yield c


def test_every_citation_in_the_brief_is_real(brief, kb_settings):
    store = IndexStore.open(kb_settings.index_dir, readonly=True)
    quoted = brief.citations()
    assert len(quoted) >= 8
    for text, citation in quoted:
        assert_on_cited_page(store, text, vars(citation))
    cited_docs = {c.document_id for _, c in quoted}
    assert {r.document_id for r in brief.references} == cited_docs
    for ref in brief.references:
        assert ref.title and (ref.url or ref.path)
    pdf_ref = next((r for r in brief.references if r.document_id == "fr-bidonvilles"), None)
    if pdf_ref is not None:
        assert pdf_ref.pages and all(isinstance(p, int) for p in pdf_ref.pages)


def test_brief_has_every_component_and_cross_country_examples(brief):
    assert [s.component for s in brief.sections] == list(COMPONENTS)
    assert brief.summary.sentences
    with_evidence = [s for s in brief.sections if s.regions]
    assert with_evidence
    for section in with_evidence:
        assert section.passages >= sum(len(c.excerpts) for r in section.regions for c in r.countries)
    countries = [e.country for e in brief.examples.examples]
    assert len(set(countries)) >= 3 and max(countries.count(c) for c in countries) <= 2


def test_gap_map_counts_region_component_pairs(brief, engine):
    gaps = brief.gaps
    assert gaps.regions == list(REGIONS) and gaps.components == list(COMPONENTS)
    hits = engine.search(TOPIC, k=100).hits
    again = gap_map_from_hits(TOPIC, hits)
    assert again.counts == gaps.counts and gaps.passages == len(hits)
    africa_services = sum(
        1 for h in hits if "africa" in h.regions and "availability_of_services" in h.components
    )
    assert gaps.cell("africa", "availability_of_services") == africa_services
    assert ("arab_states", "security_of_tenure") in gaps.empty_cells() or gaps.cell(
        "arab_states", "security_of_tenure"
    )


def test_brief_renders_in_four_formats(brief):
    md, media, ext = render_brief(brief, "md", heatmap_name="gaps.png")
    text = md.decode()
    assert ext == "md" and media.startswith("text/markdown")
    assert "## 4. Evidence-gap map" in text and "![Evidence-gap heatmap](gaps.png)" in text
    assert "| Africa |" in text and "## 6. References" in text
    # the context table: each cited country's latest figure with its year, and the source
    assert "## 5. Context: housing conditions in the cited countries" in text
    cited = brief.cited_countries()
    assert cited and all(f"| {row['name']} | " in text for row in brief.context)
    if "KEN" in cited:
        assert "| Kenya | 46.5 (2018) |" in text
    assert "Source: UN Statistics Division, SDG Global Database" in text and "retrieved 2020-10-19" in text
    assert {r["iso3"] for r in brief.context} == set(cited)

    html, _, _ = render_brief(brief, "html")
    page = html.decode()
    assert page.startswith("<!doctype html>") and 'src="data:image/png;base64,' in page
    assert brief.summary.sentences[0].citation.passage_id in page
    assert 'class="grid context-table"' in page and "SDG Global Database" in page

    pdf, media, _ = render_brief(brief, "pdf")
    assert media == "application/pdf" and pdf.startswith(b"%PDF")
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    images = [img for p in reader.pages for img in p.images]
    assert images, "the PDF has no image"
    assert max(img.image.size[0] for img in images) >= 600  # the heatmap, not an icon
    text = "".join(p.extract_text() for p in reader.pages)
    assert "Evidence-gap map" in text and "References" in text
    assert "Context: housing conditions" in text and "SDG Global Database" in text

    docx, _, _ = render_brief(brief, "docx")
    from docx import Document

    doc = Document(io.BytesIO(docx))
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    assert "4. Evidence-gap map" in headings and "6. References" in headings
    assert "5. Context: housing conditions in the cited countries" in headings
    assert len(doc.inline_shapes) == 1 and len(doc.tables) == 3
    context = doc.tables[2]
    assert context.rows[0].cells[0].text == "Country" and len(context.rows) == len(brief.context) + 1
    with pytest.raises(ValueError, match="format"):
        render_brief(brief, "odt")


def test_brief_download_and_gap_endpoints(client):
    r = client.get("/v1/brief", params={"topic": TOPIC, "format": "pdf"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert r.headers["content-type"] == "application/pdf"
    assert f'filename="brief-{slug(TOPIC)}.pdf"' in r.headers["content-disposition"]
    posted = client.post("/v1/brief", json={"topic": TOPIC, "format": "docx"})
    assert posted.status_code == 200 and posted.content[:2] == b"PK"
    bad = client.get("/v1/brief", params={"topic": TOPIC, "format": "odt"})
    assert bad.status_code == 422 and bad.json()["parameter"] == "format"
    blank = client.post("/v1/brief", json={"topic": "   ", "format": "md"})
    assert blank.status_code == 422 and blank.json()["parameter"] == "topic"
    gaps = client.get("/v1/gaps", params={"q": TOPIC}).json()
    assert gaps["regions"] == list(REGIONS) and len(gaps["counts"]) == len(REGIONS)
    assert gaps["component_labels"]["security_of_tenure"] == "Security of tenure"
    png = client.get("/v1/gaps.png", params={"q": TOPIC})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")


def test_cli_brief_writes_markdown_and_heatmap(engine, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from housing_kb.api import cli_answers
    from housing_kb.api.cli import app

    monkeypatch.setattr(cli_answers, "_engine", lambda index, embedder: engine)
    out = tmp_path / "slums.md"
    result = CliRunner().invoke(app, ["brief", TOPIC, "--format", "md", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith(f"# Evidence brief: {TOPIC}")
    assert (tmp_path / "slums-gaps.png").read_bytes().startswith(b"\x89PNG")
    wrong = CliRunner().invoke(app, ["brief", TOPIC, "--format", "rtf"])
    assert wrong.exit_code == 2 and "--format" in wrong.output
