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

from housing_kb.index.lexical import LexicalIndex, LexicalIndexError, LexicalStampMismatch
from housing_kb.index.store import IndexStore

log = logging.getLogger("housing_kb.lexical")
LEXICAL_DIR = "lexical"
_STATE_KEY = "lexical_generation"


def _load_or_new(store: IndexStore) -> LexicalIndex:
    directory = store.directory / LEXICAL_DIR
    if not directory.exists():
        return LexicalIndex()
    try:
        return LexicalIndex.load(directory)
    except LexicalStampMismatch as exc:
        log.info("%s; rebuilding it", exc)
    except LexicalIndexError as exc:
        log.warning("%s; rebuilding it", exc)
    return LexicalIndex()


def _bring_up_to_date(index: LexicalIndex, store: IndexStore, show_progress: bool) -> int:
    current = {}
    for row in tqdm(
        store.iter_passages("id, text, language"),
        desc="lexical index",
        unit="passage",
        disable=not show_progress,
        leave=False,
    ):
        current[int(row["id"])] = (row["text"], row["language"])
    index.delete([pid for pid in index.ids().tolist() if pid not in current])
    return index.upsert((pid, text, lang) for pid, (text, lang) in current.items())


def sync_lexical(store: IndexStore, *, show_progress: bool = True) -> int:
    """Update and save the lexical index; returns how many passages were (re-)analysed."""
    generation = store.generation
    if store.get_state(_STATE_KEY) == str(generation) and (store.directory / LEXICAL_DIR).exists():
        return 0
    index = _load_or_new(store)
    analysed = _bring_up_to_date(index, store, show_progress)
    index.save(store.directory / LEXICAL_DIR)
    store.set_state(_STATE_KEY, str(generation))
    return analysed


def open_lexical(store: IndexStore) -> LexicalIndex | None:
    """The lexical index for reading; caught up in memory if an interrupted ingest left it behind."""
    if not (store.directory / LEXICAL_DIR).exists():
        return None
    index = _load_or_new(store)
    if store.get_state(_STATE_KEY) != str(store.generation):
        log.warning("lexical index is behind the passages (interrupted ingest?); catching up in memory")
        _bring_up_to_date(index, store, show_progress=False)
    return index
