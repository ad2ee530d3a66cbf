"""Editions of one work (translations, copies) take one place in a result list: the edition in the
question's language, with the others listed on the hit."""

from __future__ import annotations

import pytest
from conftest import ingest_documents

from housing_kb.index.query.engine import SearchEngine
from housing_kb.ingest.manifest import ManifestEntry

pytestmark = pytest.mark.model

UDHR = {
    "en": "rights_udhr_6lang/udhr_eng.txt",
    "es": "rights_udhr_6lang/udhr_spa.txt",
    "fr": "rights_udhr_6lang/udhr_fra.txt",
}


# Own index, not small_index: every hit must be an edition of the UDHR, so the index holds nothing else.
@pytest.fixture(scope="module")
def engine(tmp_path_factory, corpus_dir, e5_embedder, model_settings):
    documents = {
        f"udhr-{language}": (
            rel,
            {
                "title": f"Universal Declaration of Human Rights ({language})",
                "document_type": "rights_text",
                "regions": ["global"],
                "language": language,
                "year": 1948,
                "work_id": "udhr-1948",
            },
        )
        for language, rel in UDHR.items()
    }
    settings = ingest_documents(
        tmp_path_factory, "editions", corpus_dir, model_settings, e5_embedder, documents
    )
    return SearchEngine.open(settings, embedder=e5_embedder)


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("¿Qué dice la Declaración sobre el derecho a la vivienda y a un nivel de vida adecuado?", "es"),
        ("Que dit la Déclaration du droit à un niveau de vie suffisant et au logement ?", "fr"),
        ("What does the Declaration say about an adequate standard of living and housing?", "en"),
    ],
)
def test_the_edition_in_the_questions_language_comes_first(engine, question, language):
    hits = engine.search(question, k=10).hits
    assert {h.document.id for h in hits} == {f"udhr-{language}"}
    others = {e["document_id"]: e["language"] for e in hits[0].editions}
    assert others == {f"udhr-{code}": code for code in UDHR if code != language}


def test_a_question_in_another_language_gets_the_best_ranked_edition(engine):
    hits = engine.search("Declaração Universal: direito à moradia e a um nível de vida adequado", k=10).hits
    assert len({h.document.id for h in hits}) == 1  # Portuguese: no edition of its own, one of the others


def test_every_edition_when_asked(engine):
    question = "¿Qué dice la Declaración sobre el derecho a la vivienda y a un nivel de vida adequado?"
    hits = engine.search(question, k=30, one_edition_per_work=False).hits
    assert len({h.document.id for h in hits}) == 3


def test_a_work_id_is_a_slug():
    with pytest.raises(ValueError, match="not a slug"):
        ManifestEntry(
            id="x", path="a.md", title="A", document_type="other", regions=["global"], work_id="UDHR 1948"
        )
