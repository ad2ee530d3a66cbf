"""Extractive answers: the most relevant sentences of the top passages, each cited to its page.

The answer never rewrites the sources. Sentences are cut from the retrieved passages with the
chunker's own sentence splitter, located again on the stored page they come from (so each one is
verbatim text of the cited page), scored against the question (embedding similarity plus the share
of the question's terms they contain), freed of near-duplicates, and optionally grouped by country
or adequacy component when the question compares.

>>> answer = answer_question(engine, "How do cities upgrade informal settlements?")   # doctest: +SKIP
>>> answer.sentences[0].citation.label                                                 # doctest: +SKIP
'Voices of Mukuru — 2020 [ke-mukuru:0005:19881b14]'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from housing_kb.index.lexical.analysis import analyze, analyze_query
from housing_kb.index.query.engine import Mode
from housing_kb.index.query.filters import Filters
from housing_kb.index.query.hits import Hit, articles_label
from housing_kb.schema.labels import label, load_labels
from housing_kb.schema.records import Page
from housing_kb.text.sentences import split_sentences

if TYPE_CHECKING:
    from housing_kb.index.answers.synthesis import LLMConfig, Synthesis
    from housing_kb.index.query.engine import SearchEngine

GroupBy = Literal["auto", "country", "component", "none"]

#: Group key for sentences whose passage names no country / carries no component.
NO_COUNTRY = "global"
NO_COMPONENT = "general"

# Phrasings of a comparison in the UN languages (and Portuguese). Lower-cased match on the question.
_COMPARE = re.compile(
    r"\b(which|what) countr|\bcompar|\bdiffer|\bcontrast|\bversus\b|\bvs\.?\s|\bhow do .+ and .+\b"
    # "how do governments / countries / cities ...", "which governments ...": many places, one question
    r"|\bhow (do|does|can|could|should) (the )?(governments|countries|states|cities|municipalities)\b"
    r"|\b(which|what) (governments|cities|states|municipalities)\b"
    r"|\bc[oó]mo (\w+ )?(los|las) (gobiernos|pa[ií]ses|estados|ciudades)|\bcomment les (gouvernements|pays|[ée]tats|villes)"
    r"|\bcomo (os|as) (governos|pa[ií]ses|estados|cidades)|как (правительства|страны|государства|города)"
    r"|各国|各地|各国政府|كيف (تقوم|تعمل)? ?(الحكومات|الدول)"
    r"|\bacross countries|\bbetween countries|\bquels? pays|\bqu[eé]ls? pa[ií]s|\bcu[aá]les pa[ií]ses"
    r"|\bentre (les|los|os) pa[iy]s|сравн|какие стран|различ|比较|对比|哪些国家|不同国家|قارن|مقارنة|أي الدول|ما الدول",
    re.IGNORECASE,
)
_BY_COMPONENT = re.compile(
    r"\b(component|aspect|dimension|element)s?\b|\bcomposante|\bcomponente|\baspectos?\b|компонент|要素|方面|عناصر|مكونات",
    re.IGNORECASE,
)
_HAS_SPACES = re.compile(r"[A-Za-z\u00c0-\u024f\u0400-\u04ff\u0600-\u06ff]")
_CJK = re.compile(r"[\u3400-\u9fff]")
_URLISH = re.compile(r"https?://|www\.|\]\(|\|")
_SENTENCE_END = re.compile(r"[.!;:。！؛۔\"'”’»)\]]$")
#: Sentences considered per answer (the first ones of the best passages).
MAX_CANDIDATES = 48
#: Of those, sentences embedded (e5, one run each: the bulk of an answer's time), chosen by the
#: question's words they share and their passage's rank; the rest are not scored.
MAX_EMBEDDED = 24
#: Passages a comparative question ("which countries ...") draws its sentences from.
COMPARE_PASSAGES = 24
#: A sentence scoring below this (on the 0-1 mixed scale) is not evidence for the question.
MIN_SCORE = 0.3


def component_label(key: str) -> str:
    """Display name of a component key.

    >>> component_label("security_of_tenure")
    'Security of tenure'
    """
    return label("components", key)


def region_label(key: str) -> str:
    """Display name of a region key.

    >>> region_label("asia_pacific")
    'Asia and the Pacific'
    """
    return label("regions", key)


@cache
def country_name(code: str) -> str:
    """English short name of an ISO alpha-3 code (the code itself when unknown).

    >>> country_name("BOL")
    'Bolivia'
    """
    import pycountry

    c = pycountry.countries.get(alpha_3=code.upper())
    if c is None:
        return label("regions", code) if code in load_labels()["regions"] else code
    return getattr(c, "common_name", None) or c.name.split(",")[0]


def comparison_grouping(question: str) -> Literal["country", "component"] | None:
    """How a comparative question should be grouped; ``None`` when it does not compare.

    >>> comparison_grouping("Which countries protect renters from eviction?"), comparison_grouping("¿qué es?")
    ('country', None)
    >>> comparison_grouping("Compare the components of adequacy in these programmes")
    'component'
    """
    if not _COMPARE.search(question):
        return None
    return "component" if _BY_COMPONENT.search(question) else "country"


#: What an answer says when the collection holds nothing on the question.
NO_GOOD_MATCH = (
    "The collection holds no good match for this question, so nothing is quoted. Try other words, "
    "or force an answer from the closest passages (force=true)."
)


# ---------------------------------------------------------------- citations


@dataclass
class Citation:
    """Where a sentence or excerpt is: document, page (``None`` for flowing text), paragraphs, passage."""

    passage_id: str
    document_id: str
    title: str
    page: int | None
    paragraphs: list[str]
    #: Articles of a law the cited passage covers ("Статья 89").
    articles: list[str]
    year: int | None
    publisher: str | None
    url: str | None
    path: str | None
    label: str

    @classmethod
    def from_hit(cls, hit: Hit, page: int | None) -> Citation:
        """The citation of a hit's text found on ``page``.

        >>> Citation.from_hit(hit, 3).label        # doctest: +SKIP
        "Charte d'engagement résorption des bidonvilles — p. 3 — 2020 [fr-bidonvilles:0002:c8121781]"
        """
        d = hit.document
        parts = [d.title]
        if hit.articles:
            parts.append(articles_label(hit.articles))
        if page is not None:
            parts.append(f"p. {page}")
        if hit.paragraphs:
            parts.append("para. " + ", ".join(hit.paragraphs))
        if d.year:
            parts.append(str(d.year))
        return cls(
            passage_id=hit.passage_id,
            document_id=d.id,
            title=d.title,
            page=page,
            paragraphs=list(hit.paragraphs),
            articles=list(hit.articles),
            year=d.year,
            publisher=d.publisher,
            url=d.url or d.source_url,
            path=d.path,
            label=" — ".join(parts) + f" [{hit.passage_id}]",
        )


# ---------------------------------------------------------------- sentences of passages


@dataclass
class SourceSentence:
    """A verbatim sentence of a retrieved passage, located on its page."""

    text: str
    hit: Hit
    page: int | None
    #: Offset of the sentence in the stored text of that page.
    char_offset: int


class PageCache:
    """Stored page texts per document, read once per request."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._pages: dict[str, list[Page]] = {}

    def pages(self, doc_id: str) -> list[Page]:
        if doc_id not in self._pages:
            self._pages[doc_id] = self.store.pages(doc_id)
        return self._pages[doc_id]

    def locate(self, hit: Hit, text: str) -> tuple[int | None, int] | None:
        """(page number, offset) of ``text`` on one of the hit's pages, or None when absent."""
        for page in self.pages(hit.document.id):
            if hit.page_start is not None and (
                page.number is None or not hit.page_start <= page.number <= (hit.page_end or hit.page_start)
            ):
                continue
            at = page.text.find(text)
            if at >= 0:
                return page.number, at
        return None


def is_answer_sentence(text: str) -> bool:
    """Whether a sentence reads as prose worth quoting (not a heading, a link list or a form label).

    >>> is_answer_sentence("Upgrading infrastructure such as roads would have a transformative effect."), is_answer_sentence("Home")
    (True, False)
    """
    stripped = text.strip()
    if _CJK.search(stripped):
        return 10 <= len(stripped) <= 400
    if len(stripped) < 40 or len(stripped) > 700 or _URLISH.search(stripped):
        return False
    words = stripped.split()
    if len(words) < 6:
        return False
    letters = sum(ch.isalpha() for ch in stripped)
    if letters / len(stripped) < 0.6 or stripped.endswith("?"):
        return False
    # Website menus and footers ("WHO WE ARE About us Funding ...") are mostly capitalised words.
    alphabetic = [w for w in words if w[:1].isalpha()]
    if sum(w[:1].isupper() for w in alphabetic) > 0.6 * len(alphabetic):
        return False
    # Lines without a final stop are usually titles; long ones are unpunctuated sentences.
    return bool(_SENTENCE_END.search(stripped)) or len(words) >= 16


#: Words after which a repeated word continues a clause rather than starting one after a heading.
_LEADS_ON = frozenset(
    [
        "and",
        "or",
        "of",
        "the",
        "to",
        "in",
        "for",
        "with",
        "by",
        "on",
        "at",
        "as",
        "from",
        "y",
        "o",
        "de",
        "del",
        "la",
        "el",
        "et",
        "ou",
        "du",
        "le",
        "les",
        "e",
        "do",
        "da",
        "и",
        "или",
        "в",
    ]
)
#: "Challenge 4 The quality ...": a numbered heading that extraction ran into the sentence after it.
_NUMBERED_HEADING = re.compile(r"^(?:[A-Z][a-z]+ ){1,3}\d{1,2}\.? (?=[A-Z])")


def strip_run_in_heading(sentence: str) -> str:
    """The sentence without a heading that PDF extraction glued to its start (no stop between them):
    "Bond financing options Bond financing is a critical tool" -> "Bond financing is a critical tool".

    >>> strip_run_in_heading("Bond financing options Bond financing is a critical tool Virginia uses.")
    'Bond financing is a critical tool Virginia uses.'
    >>> strip_run_in_heading("Challenge 4 The quality of housing is declining.")
    'The quality of housing is declining.'
    >>> strip_run_in_heading("Housing is a right. Housing matters.")
    'Housing is a right. Housing matters.'
    >>> strip_run_in_heading("Government of India and Government of Kerala agreed.")
    'Government of India and Government of Kerala agreed.'
    """
    words = sentence.split(" ")
    first = words[0]
    # The heading's first two words open the sentence again within a few words: "X Y Z X Y ...",
    # and what comes before is not a clause leading on ("Government of India and Government of ...").
    if len(first) >= 4 and first[:1].isupper() and first.isalpha() and len(words) > 3:
        for i in range(2, min(9, len(words) - 1)):
            if (
                words[i] == first
                and words[i + 1] == words[1]
                and words[i - 1].lower() not in _LEADS_ON
                and not any(w.endswith((".", ":", ";", ",")) for w in words[:i])
            ):
                return " ".join(words[i:])
    match = _NUMBERED_HEADING.match(sentence)
    return sentence[match.end() :] if match else sentence


def passage_sentences(hit: Hit, pages: PageCache) -> list[SourceSentence]:
    """The quotable sentences of a passage, each found verbatim on a page of the passage."""
    out: list[SourceSentence] = []
    for line in hit.text.split("\n"):
        for start, end in split_sentences(line):
            text = strip_run_in_heading(line[start:end].lstrip("-•*●▪ ").strip())
            if not is_answer_sentence(text):
                continue
            where = pages.locate(hit, text)
            if where is None:  # never quote what we cannot point to on a page
                continue
            out.append(SourceSentence(text=text, hit=hit, page=where[0], char_offset=where[1]))
    return out


# ---------------------------------------------------------------- the answer


@dataclass
class AnswerSentence:
    text: str
    language: str
    score: float
    citation: Citation
    countries: list[str]
    regions: list[str]
    components: list[str]


@dataclass
class AnswerGroup:
    key: str
    label: str
    sentences: list[AnswerSentence]


@dataclass
class Answer:
    question: str
    query_language: str | None
    mode: Literal["extractive", "synthesis"]
    sentences: list[AnswerSentence]
    grouped_by: Literal["country", "component"] | None = None
    groups: list[AnswerGroup] = field(default_factory=list)
    passages_considered: int = 0
    synthesis: Synthesis | None = None
    #: Why no synthesis came back although an endpoint is configured (the extractive answer stands).
    synthesis_error: str | None = None
    #: How good the best match is: {"best": 0-1, "label": "strong" | "weak" | "none"} (index/query/relevance.py).
    relevance: dict[str, Any] | None = None
    #: Why the answer is empty, when it is.
    no_answer: str | None = None

    @property
    def languages(self) -> list[str]:
        """Languages of the quoted sentences, most frequent first."""
        counts: dict[str, int] = {}
        for s in self.sentences:
            counts[s.language] = counts.get(s.language, 0) + 1
        return sorted(counts, key=lambda k: -counts[k])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = self.languages
        return data


def answer_text(answer: dict[str, Any]) -> str:
    """Plain-text rendering of an answer (``Answer.to_dict()``, or the API's same shape) for the CLI, one
    cited sentence per line."""
    if answer.get("no_answer"):
        no_answer: str = answer["no_answer"]
        return no_answer
    lines: list[str] = []
    synthesis = answer.get("synthesis")
    if synthesis is not None:
        lines.append("Synthesis:")
        lines.extend(f"  {s['text']}" for s in synthesis["sentences"])
        if synthesis["dropped"]:
            lines.append(f"  ({synthesis['dropped']} generated sentence(s) without a valid citation dropped)")
        lines.append("")
        lines.append("Evidence:")
    blocks = answer["groups"] or [{"label": "", "sentences": answer["sentences"]}]
    for group in blocks:
        if group["label"]:
            lines.append(f"{group['label']}:")
        for s in group["sentences"]:
            lines.append(f"  - {s['text']} [{s['language']}]")
            lines.append(f"      {s['citation']['label']}")
    return "\n".join(lines) if lines else "No relevant sentences found."


def _lexical_overlap(query_terms: set[str], text: str, language: str) -> float:
    if not query_terms:
        return 0.0
    return len(query_terms & set(analyze(text, language))) / len(query_terms)


def _near_duplicate(a: np.ndarray, b: np.ndarray, terms_a: set[str], terms_b: set[str]) -> bool:
    if float(a @ b) >= 0.95:
        return True
    union = terms_a | terms_b
    return bool(union) and len(terms_a & terms_b) / len(union) >= 0.8


def rank_sentences(
    question: str,
    query_vector: np.ndarray,
    candidates: Sequence[SourceSentence],
    embedder: Any,
    *,
    lexical_weight: float = 0.3,
) -> list[tuple[SourceSentence, float, np.ndarray]]:
    """Candidates scored against the question, best first, near-duplicates removed.

    The score is ``(1 - w) * minmax(cosine) + w * share of question terms present``: e5 cosines sit
    in a narrow band, so they are stretched over the candidates before mixing.
    """
    if not candidates:
        return []
    qterms = set(analyze_query(question))
    if len(candidates) > MAX_EMBEDDED:
        # Prefer sentences sharing the question's words, then earlier ones (better passages first):
        # a cross-lingual question shares few words, and keeps the best passages' sentences.
        overlap = [_lexical_overlap(qterms, c.text, c.hit.language) for c in candidates]
        keep = sorted(range(len(candidates)), key=lambda i: (-overlap[i], i))[:MAX_EMBEDDED]
        candidates = [candidates[i] for i in sorted(keep)]
    vectors = embedder.embed_sentences([c.text for c in candidates])
    dense = vectors @ np.asarray(query_vector, dtype=np.float32)
    lo, hi = float(dense.min()), float(dense.max())
    dense_n = (dense - lo) / (hi - lo) if hi > lo else np.ones_like(dense)
    terms = [set(analyze(c.text, c.hit.language)) for c in candidates]
    scores = [
        (1 - lexical_weight) * float(dense_n[i])
        + lexical_weight * _lexical_overlap(qterms, c.text, c.hit.language)
        for i, c in enumerate(candidates)
    ]
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    kept: list[int] = []
    for i in order:
        if scores[i] < MIN_SCORE and kept:
            break
        if any(_near_duplicate(vectors[i], vectors[j], terms[i], terms[j]) for j in kept):
            continue
        kept.append(i)
    return [(candidates[i], scores[i], vectors[i]) for i in kept]


def _answer_sentence(s: SourceSentence, score: float) -> AnswerSentence:
    return AnswerSentence(
        text=s.text,
        language=s.hit.language,
        score=round(score, 4),
        citation=Citation.from_hit(s.hit, s.page),
        countries=list(s.hit.countries),
        regions=list(s.hit.regions),
        components=list(s.hit.components),
    )


def group_sentences(
    ranked: Sequence[AnswerSentence], by: Literal["country", "component"], per_group: int, max_groups: int
) -> list[AnswerGroup]:
    """Best sentences per country (or component), groups ordered by their best sentence."""
    groups: dict[str, list[AnswerSentence]] = {}
    for s in ranked:
        keys = s.countries if by == "country" else s.components
        key = keys[0] if keys else (NO_COUNTRY if by == "country" else NO_COMPONENT)
        bucket = groups.setdefault(key, [])
        if len(bucket) < per_group:
            bucket.append(s)
    if by == "country":  # countries first: the global texts are context for a comparison, not a case
        groups = dict(sorted(groups.items(), key=lambda kv: kv[0] == NO_COUNTRY))
    out = []
    for key, sentences in list(groups.items())[:max_groups]:
        label = country_name(key) if by == "country" else component_label(key)
        out.append(AnswerGroup(key=key, label=label, sentences=sentences))
    return out


def answer_question(
    engine: SearchEngine,
    question: str,
    *,
    passages: int = 10,
    max_sentences: int = 6,
    filters: Filters | None = None,
    mode: Mode = "hybrid",
    group_by: GroupBy = "auto",
    per_group: int = 2,
    llm: LLMConfig | None = None,
    force: bool = False,
) -> Answer:
    """An extractive, cited answer from the top ``passages`` hits; a synthesis too when ``llm`` is set.

    When the collection holds no good match (relevance label "none") the answer is empty and says so,
    unless ``force``: quoting the least bad passages would dress irrelevant text up as an answer.

    >>> answer_question(engine, "Which countries upgrade slums?").grouped_by   # doctest: +SKIP
    'country'
    """
    result = engine.search(question, k=passages, filters=filters, mode=mode)
    relevance = result.relevance.to_dict() if result.relevance else None
    if result.relevance is not None and result.relevance.label == "none" and not force:
        return Answer(
            question=question,
            query_language=result.query_language,
            mode="extractive",
            sentences=[],
            relevance=relevance,
            no_answer=NO_GOOD_MATCH,
        )
    grouping = (
        comparison_grouping(question) if group_by == "auto" else (None if group_by == "none" else group_by)
    )
    hits = result.hits
    pages = PageCache(engine.passages)
    if grouping == "country":
        # A comparison needs many places: more passages, at most two per document, and each passage
        # gets its share of the embedding budget (its sentences sharing most of the question's words)
        # rather than the first passages spending it all. The first search stays the synthesis's.
        hits = engine.search(
            question, k=COMPARE_PASSAGES, filters=filters, mode=mode, group_by_document=2
        ).hits
        qterms = set(analyze_query(question))
        per_hit = max(1, MAX_EMBEDDED // max(1, len(hits)))
        candidates = []
        for hit in hits:
            sentences = passage_sentences(hit, pages)
            overlap = [_lexical_overlap(qterms, s.text, hit.language) for s in sentences]
            best = sorted(range(len(sentences)), key=lambda i: (-overlap[i], i))[:per_hit]
            candidates += [sentences[i] for i in sorted(best)]
        candidates = candidates[:MAX_EMBEDDED]
    else:
        candidates = [s for hit in hits for s in passage_sentences(hit, pages)][:MAX_CANDIDATES]
    ranked = rank_sentences(question, engine.query_vector(question), candidates, engine.embedder)
    scored = [_answer_sentence(s, score) for s, score, _ in ranked]
    answer = Answer(
        question=question,
        query_language=result.query_language,
        mode="extractive",
        sentences=scored[:max_sentences],
        passages_considered=len(hits),
        relevance=relevance,
    )
    if grouping is not None:
        answer.grouped_by = grouping
        answer.groups = group_sentences(scored, grouping, per_group, max_groups=max(1, max_sentences))
        answer.sentences = [s for g in answer.groups for s in g.sentences]
    if llm is not None and result.hits:
        from housing_kb.index.answers.synthesis import SynthesisError, synthesize

        try:
            answer.synthesis = synthesize(question, result.hits, llm, language=result.query_language)
            answer.mode = "synthesis"
        except SynthesisError as exc:
            answer.synthesis_error = str(exc)
    return answer
