"""Optional LLM synthesis over retrieved passages, through any OpenAI-compatible chat endpoint.

Nothing here runs unless an endpoint is configured (``HOUSING_KB_LLM_BASE_URL`` and
``HOUSING_KB_LLM_MODEL``; ``HOUSING_KB_LLM_API_KEY`` when the server wants one). The prompts are
data files in ``prompts/synthesis/``. Every generated sentence must cite a retrieved passage as
``[p:PASSAGE_ID]``; a sentence that cites nothing, or only ids that were not retrieved, is dropped
and counted, so the reader sees only claims that point at evidence.

>>> config = LLMConfig.from_settings(Settings())                   # doctest: +SKIP
>>> synthesize("How is tenure secured?", hits, config).dropped     # doctest: +SKIP
0
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

import httpx

from housing_kb.index.query.hits import Hit
from housing_kb.text.sentences import split_sentences

if TYPE_CHECKING:
    from housing_kb.config import Settings

_CITATION = re.compile(r"\[p:\s*([^\]\s]+)\s*\]")
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "ru": "Russian",
    "zh": "Chinese",
    "pt": "Portuguese",
}


class SynthesisError(RuntimeError):
    """The chat endpoint failed or answered something unusable; the message says which."""


@dataclass(frozen=True)
class LLMConfig:
    """Where the chat-completions endpoint is. ``base_url`` ends before ``/chat/completions``."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    max_sentences: int = 6

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMConfig | None:
        """The endpoint ``settings`` configure, or None when ``HOUSING_KB_LLM_BASE_URL`` is unset.

        >>> from housing_kb.config import Settings
        >>> LLMConfig.from_settings(Settings(llm_base_url="")) is None
        True
        >>> LLMConfig.from_settings(Settings(llm_base_url="http://x/v1/", llm_model="m")).base_url
        'http://x/v1'
        """
        base = settings.llm_base_url.strip()
        if not base:
            return None
        model = settings.llm_model.strip()
        if not model:
            raise SynthesisError("HOUSING_KB_LLM_BASE_URL is set but HOUSING_KB_LLM_MODEL is not")
        return cls(base_url=base.rstrip("/"), model=model, api_key=settings.llm_api_key.strip() or None)


@dataclass
class SynthesisSentence:
    text: str
    passage_ids: list[str]


@dataclass
class Synthesis:
    model: str
    sentences: list[SynthesisSentence]
    #: Generated sentences removed because they cited no retrieved passage.
    dropped: int
    dropped_sentences: list[str] = field(default_factory=list)


@cache
def prompt_template(name: str) -> Template:
    path = Path(str(resources.files("housing_kb.prompts"))) / "synthesis" / name
    return Template(path.read_text(encoding="utf-8"))


def build_messages(
    question: str, hits: Sequence[Hit], language: str | None, max_sentences: int
) -> list[dict[str, str]]:
    """The chat messages: the system rules, then the question and the passages with their ids."""
    blocks = [
        prompt_template("passage.md").substitute(
            passage_id=h.passage_id,
            title=h.document.title,
            countries=", ".join(h.countries) or "global",
            language=h.language,
            text=h.text.strip(),
        )
        for h in hits
    ]
    system = prompt_template("system.md").substitute(
        max_sentences=max_sentences,
        language=LANGUAGE_NAMES.get(language or "", "the language of the question"),
    )
    user = prompt_template("user.md").substitute(question=question, passages="\n".join(blocks))
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def validate_citations(text: str, retrieved: set[str]) -> tuple[list[SynthesisSentence], list[str]]:
    """Split generated text into sentences; keep those citing a retrieved id, return the rest apart.

    >>> kept, dropped = validate_citations("Tenure matters [p:a:1]. It just does. Fake [p:zz].", {"a:1"})
    >>> [s.passage_ids for s in kept], dropped
    ([['a:1']], ['It just does.', 'Fake [p:zz].'])
    """
    kept: list[SynthesisSentence] = []
    dropped: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*• ").strip()
        for start, end in split_sentences(line):
            sentence = line[start:end].strip()
            ids = [m.group(1) for m in _CITATION.finditer(sentence)]
            valid = list(dict.fromkeys(i for i in ids if i in retrieved))
            if valid:
                kept.append(SynthesisSentence(text=sentence, passage_ids=valid))
            elif sentence and not _CITATION.fullmatch(sentence):
                dropped.append(sentence)
            elif sentence:
                # a bare citation split off by the sentence splitter belongs to the sentence before it
                if kept and ids and all(i in retrieved for i in ids):
                    kept[-1].text += " " + sentence
                else:
                    dropped.append(sentence)
    return kept, dropped


def chat_completion(
    config: LLMConfig, messages: list[dict[str, str]], client: httpx.Client | None = None
) -> str:
    """The assistant text of one chat-completions call (temperature 0)."""
    headers = {"Content-Type": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    body = {"model": config.model, "messages": messages, "temperature": 0}
    url = f"{config.base_url}/chat/completions"
    try:
        if client is None:
            with httpx.Client(timeout=config.timeout_s) as own:
                response = own.post(url, json=body, headers=headers)
        else:
            response = client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SynthesisError(f"chat endpoint {url} unreachable: {exc}") from None
    if response.status_code != 200:
        raise SynthesisError(
            f"chat endpoint {url} answered HTTP {response.status_code}: {response.text[:200]}"
        )
    try:
        return str(response.json()["choices"][0]["message"]["content"] or "")
    except (ValueError, KeyError, IndexError, TypeError):
        raise SynthesisError(f"chat endpoint {url} returned no choices[0].message.content") from None


def synthesize(
    question: str,
    hits: Sequence[Hit],
    config: LLMConfig,
    *,
    language: str | None = None,
    client: httpx.Client | None = None,
) -> Synthesis:
    """A cited synthesis of ``hits``; uncited sentences are dropped and counted."""
    messages = build_messages(question, hits, language, config.max_sentences)
    text = chat_completion(config, messages, client)
    kept, dropped = validate_citations(text, {h.passage_id for h in hits})
    return Synthesis(model=config.model, sentences=kept, dropped=len(dropped), dropped_sentences=dropped)
