"""Keep the BM25 channel (``<index>/lexical/``) in step with the passages in the store.

Only passages whose text changed are re-analysed (the lexical index keeps each passage's terms
and a content hash); the bm25s matrix is then rebuilt from the stored terms. The store generation
the lexical index matches is recorded, so a reader can tell when a crash left it behind.

>>> sync_lexical(store)          # doctest: +SKIP
>>> open_lexical(store).search("tenure", k=3)   # doctest: +SKIP
[(812, 9.1), ...]
"""

from __future__ import annotations

import logging

from tqdm import tqdm

from housing_kb.index.lexical.bm25 import LexicalIndex, LexicalIndexError, LexicalStampMismatch
from housing_kb.index.store.index_store import IndexStore

log = logging.getLogger("housing_kb.lexical")
LEXICAL_DIR = "lexical"
_STATE_KEY = "lexical_generation"


def _load_or_new(store: IndexStore) -> tuple[LexicalIndex, bool]:
    """(the saved lexical index, True), or (a new empty one, False) when there is none or it
    cannot be used (built by another analyser version, or damaged)."""
    directory = store.directory / LEXICAL_DIR
    if not directory.exists():
        return LexicalIndex(), False
    try:
        return LexicalIndex.load(directory), True
    except LexicalStampMismatch as exc:
        log.info("%s; rebuilding it", exc)
    except LexicalIndexError as exc:
        log.warning("%s; rebuilding it", exc)
    return LexicalIndex(), False


def _bring_up_to_date(index: LexicalIndex, store: IndexStore, show_progress: bool) -> int:
    # Each passage is indexed with its context (document title > headings; index/store/context.py) in
    # front: a question naming a law or report, or a title's English gloss, then reaches passages
    # that do not repeat it. Dev set: hybrid nDCG@10 0.457 -> 0.468 (README, "contextual vectors").
    contexts = store.passage_contexts()
    current = {}
    for row in tqdm(
        store.iter_passages("id, text, language"),
        desc="lexical index",
        unit="passage",
        total=store.passage_count() if show_progress else None,
        disable=not show_progress,
        leave=False,
    ):
        pid = int(row["id"])
        context = contexts.get(pid)
        current[pid] = (f"{context}\n\n{row['text']}" if context else row["text"], row["language"])
    index.delete([pid for pid in index.ids().tolist() if pid not in current])
    passages = ((pid, text, lang) for pid, (text, lang) in current.items())
    upserted: int = index.upsert(
        tqdm(
            passages, desc="analysing for BM25", unit="passage", total=len(current), disable=not show_progress
        )
    )
    return upserted


def sync_lexical(store: IndexStore, *, show_progress: bool = True) -> int:
    """Update and save the lexical index; returns how many passages were (re-)analysed."""
    generation = store.generation
    directory = store.directory / LEXICAL_DIR
    if store.get_state(_STATE_KEY) == str(generation) and LexicalIndex.is_current(directory):
        return 0
    index, _ = _load_or_new(store)
    analysed = _bring_up_to_date(index, store, show_progress)
    index.save(directory)
    store.set_state(_STATE_KEY, str(generation))
    return analysed


def open_lexical(store: IndexStore) -> LexicalIndex | None:
    """The lexical index for reading; caught up in memory if an interrupted ingest left it behind."""
    if not (store.directory / LEXICAL_DIR).exists():
        return None
    index, loaded = _load_or_new(store)
    if not loaded or store.get_state(_STATE_KEY) != str(store.generation):
        log.warning(
            "lexical index is behind the passages (interrupted ingest, or an older version); "
            "catching up in memory until the next `housing-kb ingest`"
        )
        _bring_up_to_date(index, store, show_progress=False)
    return index
