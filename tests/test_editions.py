"""Editions of one work (translations, copies) take one place in a result list: the edition in the
question's language, with the others listed on the hit."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import copy_into, manifest_entry, write_manifest

from housing_kb.index.search import SearchEngine
from housing_kb.ingest.manifest import ManifestEntry
from housing_kb.ingest.pipeline import run_ingest

pytestmark = pytest.mark.model

UDHR = {
    "en": "rights_udhr_6lang/udhr_eng.txt",
    "es": "rights_udhr_6lang/udhr_spa.txt",
    "fr": "rights_udhr_6lang/udhr_fra.txt",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, corpus_dir, e5_embedder, model_settings):
    root = tmp_path_factory.mktemp("editions-corpus")
    entries = []
    for language, rel in UDHR.items():
        copy_into(corpus_dir, root, rel)
        entries.append(
            manifest_entry(
                f"udhr-{language}",
                rel,
                root,
                title=f"Universal Declaration of Human Rights ({language})",
                document_type="rights_text",
                regions=["global"],
                language=language,
                year=1948,
                work_id="udhr-1948",
            )
        )
    work = tmp_path_factory.mktemp("editions-index")
    settings = replace(
        model_settings,
        corpus_dir=root,
        manifest_path=write_manifest(work / "manifest.yaml", entries),
        index_dir=work / "index",
    )
    report = run_ingest(settings, embedder=e5_embedder, show_progress=False)
    assert report.ok, report.summary_lines()
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
