"""Machine translations ("gists") of hits in another language than the reader's.

With an OpenAI-compatible endpoint configured (as for synthesis, ``index/answers/synthesis.py``),
``translate_to=LANG`` adds to each hit whose language differs a translation of its text, labelled as
machine-made, with the model that made it. Translations are kept beside the index
(``translations.sqlite``: per passage text, language and model), so a passage is translated once and
the next request reads it back. It is a cache: its own file, written by the server that reads the
index, and never part of an index generation. Without an endpoint nothing is translated and hits
carry no gist.

>>> translate(TranslationCache(index_dir), [("Право на жилище", "ru")], "en", config)[0].text  # doctest: +SKIP
'The right to housing'
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from housing_kb.index.answers.synthesis import LANGUAGE_NAMES, LLMConfig, chat_completion, prompt_template
from housing_kb.schema.records import content_hash

#: Languages a gist can be asked in: the six UN languages and Portuguese.
GIST_LANGUAGES = tuple(LANGUAGE_NAMES)
CACHE_FILE = "translations.sqlite"


@dataclass(frozen=True)
class Gist:
    """A machine translation of a hit's text."""

    language: str
    text: str
    model: str
    machine_translation: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class TranslationCache:
    """Translations by (passage text hash, language, model), in ``translations.sqlite`` of an index."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / CACHE_FILE
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock, self._conn:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS translations (content_hash TEXT NOT NULL, language TEXT NOT NULL,"
                " model TEXT NOT NULL, text TEXT NOT NULL, created_at REAL NOT NULL,"
                " PRIMARY KEY (content_hash, language, model)) WITHOUT ROWID"
            )

    def get(self, hashes: Sequence[str], language: str, model: str) -> dict[str, str]:
        if not hashes:
            return {}
        marks = ", ".join("?" * len(hashes))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT content_hash, text FROM translations WHERE language = ? AND model = ?"
                f" AND content_hash IN ({marks})",
                [language, model, *hashes],
            ).fetchall()
        return dict(rows)

    def put(self, items: Sequence[tuple[str, str]], language: str, model: str) -> None:
        with self._lock, self._conn:  # one transaction
            self._conn.executemany(
                "INSERT OR REPLACE INTO translations VALUES (?, ?, ?, ?, ?)",
                [(h, language, model, text, time.time()) for h, text in items],
            )


def translate(
    cache: TranslationCache, texts: Sequence[tuple[str, str]], language: str, config: LLMConfig
) -> list[Gist | None]:
    """A gist in ``language`` of each (text, its language), None for a text already in it; from the
    cache, else from the endpoint (one call per text not seen before), then cached."""
    if language not in GIST_LANGUAGES:
        raise ValueError(f"translate_to: {language!r} is not one of {', '.join(GIST_LANGUAGES)}")
    keys = [content_hash(text) if lang != language else None for text, lang in texts]
    known = cache.get(list(dict.fromkeys(k for k in keys if k)), language, config.model)
    fresh: list[tuple[str, str]] = []
    out: list[Gist | None] = []
    for (text, _), key in zip(texts, keys, strict=True):
        if key is None:
            out.append(None)
            continue
        if key not in known:
            prompt = prompt_template("translate.md").substitute(language=LANGUAGE_NAMES[language], text=text)
            known[key] = chat_completion(config, [{"role": "user", "content": prompt}]).strip()
            fresh.append((key, known[key]))
        out.append(Gist(language=language, text=known[key], model=config.model))
    if fresh:
        cache.put(fresh, language, config.model)
    return out
