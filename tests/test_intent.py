"""Region intent: the passages that name a region, not those merely tagged with it through a country."""

from __future__ import annotations

import numpy as np

from housing_kb.index.query.filters import FilterTable
from housing_kb.index.query.intent import RegionMentions
from housing_kb.index.store.index_store import IndexConfig, IndexStore
from housing_kb.schema.records import DocumentRecord, Page, Passage, PassageTagsRecord

CONFIG = IndexConfig(model_id="test-model", dim=4, chunker={"target": 10})
TEXTS = [
    # (text, passage countries, passage regions) as the tagger would give them
    (
        "Housing deficits across Latin America and the Caribbean keep growing.",
        [],
        ["latin_america_caribbean"],
    ),
    (
        "La ley argentina de regularización dominial protege a los barrios populares.",
        ["ARG"],
        ["latin_america_caribbean"],
    ),
    ("En América Latina, la vivienda social se construye lejos del empleo.", [], ["latin_america_caribbean"]),
    ("South Africa's Breaking New Ground plan replaced the RDP houses.", ["ZAF"], ["africa"]),
    ("Urbanisation in sub-Saharan Africa is the fastest in the world.", [], ["africa"]),
    ("拉丁美洲和加勒比将成为世界上城市化程度最高的区域。", [], ["latin_america_caribbean"]),
    # tagged by an older tagger that read the link; a web address does not name a region
    (
        "[4] Social protection: "
        "https://www.ilo.org/africa/areas-of-work/social-protection/lang--en/index.htm and ilo.org/africa",
        [],
        ["africa"],
    ),
]


def _store(tmp_path) -> IndexStore:
    store = IndexStore.open(tmp_path / "idx", CONFIG)
    record = DocumentRecord(
        doc_id="d", title="Mixed", document_type="report", sha256="0" * 64, pipeline_key="k", path="d.txt"
    )
    passages = [
        Passage("d", i, text, 1, 1, 0, len(text), language="und") for i, (text, _, _) in enumerate(TEXTS)
    ]
    vectors = np.eye(len(TEXTS), 4, dtype=np.float32) + 0.1
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    tags = [PassageTagsRecord([], countries, regions, {}) for _, countries, regions in TEXTS]
    store.replace_document(record, [Page(1, " ".join(t for t, _, _ in TEXTS))], passages, vectors, tags, "v1")
    return store


def _texts(store: IndexStore, ids: np.ndarray) -> list[str]:
    rows = store.passages([int(i) for i in ids])
    return sorted(rows[int(i)].text[:20] for i in ids)


def test_only_passages_naming_the_region_count(tmp_path):
    store = _store(tmp_path)
    table = FilterTable.from_store(store)
    mentions = RegionMentions()
    latin = mentions.ids(store, table, "latin_america_caribbean")
    # the Argentine passage is tagged with the region through its country, but does not name it
    assert _texts(store, latin) == sorted([TEXTS[0][0][:20], TEXTS[2][0][:20], TEXTS[5][0][:20]])
    # "South Africa" is a country, not the region; "sub-Saharan Africa" is the region; a URL is neither
    assert _texts(store, mentions.ids(store, table, "africa")) == [TEXTS[4][0][:20]]
    assert mentions.ids(store, table, "arab_states").size == 0


def test_mentions_are_recomputed_after_an_ingest(tmp_path):
    store = _store(tmp_path)
    mentions = RegionMentions()
    first = mentions.ids(store, FilterTable.from_store(store), "africa")
    assert mentions.ids(store, FilterTable.from_store(store), "africa") is first  # cached
    store.delete_documents(["d"])
    assert mentions.ids(store, FilterTable.from_store(store), "africa").size == 0
