"""Split cleaned pages into citable passages sized in embedding-model tokens.

Why not llama-index's ``SentenceSplitter``: its sentence splitting does not recognise Chinese
or Arabic sentence ends (。！？ ؟ ۔), so CJK law articles come out as one overlong "sentence",
and it works on one flat string, losing the per-page character offsets and UN paragraph
numbers that citations need. This chunker keeps both.

How it works:

1. Each page is cut into blocks (paragraphs and kept lines) and blocks into sentences, with
   end marks for all six UN languages plus Portuguese, and exceptions for abbreviations
   ("e.g.", "Art.", "ст.") and paragraph numbers ("53.").
2. A sentence longer than the token limit is cut at clause marks (，、；;,:), then, if still
   too long, at token boundaries - so no passage can exceed ``max_tokens``.
3. Sentences are packed greedily up to ``target_tokens``. A new passage starts early at a
   paragraph or heading boundary once the current one is past ``boundary_fraction`` of the
   target; a cut inside a paragraph repeats the last sentence(s) (up to ``overlap_tokens``).
   A heading, or a paragraph opening a law's article ("Art. 26. ... for:") that the next
   paragraph continues ("I - land regularisation;"), moves to the next passage rather than
   closing this one.
4. Each passage records its pages, offsets, UN paragraph numbers, heading path, language
   and token count.

>>> config = ChunkerConfig()
>>> config.as_dict()["target_tokens"]
300
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import accumulate, pairwise
from statistics import median

from housing_kb.ingest.language import detect_language
from housing_kb.ingest.tokens import TokenCounter
from housing_kb.schema.records import Page, Passage
from housing_kb.text.sentences import split_sentences

#: multilingual-e5-small reads 512 tokens, including <s>, </s> and the "passage: " prefix.
MODEL_MAX_TOKENS = 512
#: Room left for those extras when checking ``max_tokens``.
_MODEL_RESERVED_TOKENS = 8


@dataclass(frozen=True)
class ChunkerConfig:
    """Passage sizes in model tokens; stamped into the index manifest via :meth:`as_dict`.

    >>> ChunkerConfig(target_tokens=200, max_tokens=250).max_tokens
    250
    """

    target_tokens: int = 300
    max_tokens: int = 350
    min_tokens: int = 60
    overlap_tokens: int = 40
    #: Start a new passage at a paragraph/heading boundary once past this share of the target.
    boundary_fraction: float = 0.6
    #: Bump when the splitting rules change, so an index knows its passages are stale.
    version: str = "sentence-v2"

    def __post_init__(self) -> None:
        if not 0 < self.min_tokens <= self.target_tokens <= self.max_tokens:
            raise ValueError(
                "ChunkerConfig: need 0 < min_tokens <= target_tokens <= max_tokens, got "
                f"{self.min_tokens}, {self.target_tokens}, {self.max_tokens}"
            )
        if self.max_tokens > MODEL_MAX_TOKENS - _MODEL_RESERVED_TOKENS:
            raise ValueError(
                f"ChunkerConfig.max_tokens={self.max_tokens} leaves no room for the model's "
                f"{MODEL_MAX_TOKENS}-token limit (at most {MODEL_MAX_TOKENS - _MODEL_RESERVED_TOKENS})"
            )
        if not 0 <= self.overlap_tokens < self.target_tokens:
            raise ValueError(
                f"ChunkerConfig.overlap_tokens={self.overlap_tokens} must be >= 0 and below target_tokens"
            )
        if not 0 < self.boundary_fraction <= 1:
            raise ValueError(f"ChunkerConfig.boundary_fraction={self.boundary_fraction} must be in (0, 1]")

    def as_dict(self) -> dict[str, object]:
        """Plain data for the index manifest."""
        return asdict(self)


# ---------------------------------------------------------------- sentences

_PARAGRAPH_NUMBER = re.compile(r"(\d{1,3})\.(?=\s|[\u3400-\u9fff])")
_CLAUSE_END = re.compile(r"[，、；;,:：]\s*")


# ---------------------------------------------------------------- units of packing


@dataclass
class _Sentence:
    """One sentence (or sentence piece) on one page, with what the chunker needs to cite it."""

    page_index: int
    start: int
    end: int
    text: str
    tokens: int = 0
    paragraph_start: bool = False
    heading_start: bool = False
    paragraph_number: str | None = None
    heading_path: tuple[str, ...] = ()
    #: The law's article this sentence belongs to ("Статья 89"), when the document is cut in articles.
    article: str | None = None


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans of the lines of a cleaned page (paragraphs and kept lines), without blank ones."""
    spans = []
    position = 0
    for line in text.split("\n"):
        if line.strip():
            spans.append((position, position + len(line)))
        position += len(line) + 1
    return spans


def _raw_sentences(pages: Sequence[Page]) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    for index, page in enumerate(pages):
        if page.empty or not page.text.strip():
            continue
        heading_offsets = {offset for offset, _, _ in page.headings}
        for block_start, block_end in _blocks(page.text):
            block = page.text[block_start:block_end]
            lead = len(block) - len(block.lstrip())
            is_heading = any(block_start <= o <= block_start + lead for o in heading_offsets)
            # A heading is one unit: "Статья 1. Основные начала" is a title, not two sentences.
            spans = [(lead, len(block.rstrip()))] if is_heading else split_sentences(block)
            for n, (start, end) in enumerate(spans):
                sentences.append(
                    _Sentence(
                        page_index=index,
                        start=block_start + start,
                        end=block_start + end,
                        text=block[start:end],
                        paragraph_start=n == 0,
                        heading_start=is_heading,
                    )
                )
    return sentences


def _split_overlong(sentence: _Sentence, counter: TokenCounter, limit: int) -> list[_Sentence]:
    """Cut a sentence above ``limit`` tokens at clause marks, then at token boundaries."""
    text = sentence.text
    cuts = [0, *(m.end() for m in _CLAUSE_END.finditer(text) if m.end() < len(text)), len(text)]
    clauses = [(a, b) for a, b in pairwise(cuts) if text[a:b].strip()]
    counts = counter.count_batch([text[a:b] for a, b in clauses])
    pieces: list[tuple[int, int]] = []
    for (a, b), n in zip(clauses, counts, strict=True):
        if n > limit:
            pieces.extend(_hard_split(text, a, b, counter, limit))
        elif pieces and counter.count(text[pieces[-1][0] : b]) <= limit:
            pieces[-1] = (pieces[-1][0], b)
        else:
            pieces.append((a, b))
    result = []
    for n, (a, b) in enumerate(pieces):
        lead = len(text[a:b]) - len(text[a:b].lstrip())
        a, b = a + lead, a + len(text[a:b].rstrip())
        result.append(
            _Sentence(
                page_index=sentence.page_index,
                start=sentence.start + a,
                end=sentence.start + b,
                text=text[a:b],
                tokens=counter.count(text[a:b]),
                paragraph_start=sentence.paragraph_start and n == 0,
                heading_start=sentence.heading_start and n == 0,
            )
        )
    return result


def _hard_split(text: str, start: int, end: int, counter: TokenCounter, limit: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` every ``limit`` tokens, at token starts (a table, a stopless list)."""
    offsets = counter.offsets(text[start:end])
    pieces = []
    piece_start = 0
    for index in range(limit, len(offsets), limit):
        cut = offsets[index][0]
        if cut > piece_start:
            pieces.append((start + piece_start, start + cut))
            piece_start = cut
    pieces.append((start + piece_start, end))
    return pieces


# ---------------------------------------------------------------- paragraph numbers

#: A document "numbers its paragraphs" when at least this many numbers form its sequence ...
MIN_NUMBERED_PARAGRAPHS = 5
#: ... with at most one restart (an annex) per this many numbered paragraphs.
PARAGRAPHS_PER_RESTART = 10
#: A number may skip this many (one lost in extraction) and still continue the sequence.
MAX_NUMBER_GAP = 3
#: Paragraphs are short; numbers further apart than this (median, in characters) are
#: numbered sections of a report or thesis, not paragraphs.
MAX_MEDIAN_PARAGRAPH_CHARS = 5000


def _continues(numbers: Sequence[int], index: int, run: int = 3) -> bool:
    """Whether ``numbers[index:]`` starts with ``run`` consecutive integers."""
    window = numbers[index : index + run]
    return len(window) == run and all(b == a + 1 for a, b in pairwise(window))


def find_paragraph_sequence(numbers: Sequence[int]) -> list[bool]:
    """Which candidate numbers (in document order) are UN-style paragraph numbers.

    A run "1. 2. 3." that interrupts the sequence and is followed by the next paragraph
    number is a list inside a paragraph. Restarts at 1 are allowed (annexes) but must be
    rare: law codes that restart "1." in every article are not numbered paragraphs.

    >>> find_paragraph_sequence([1, 2, 3, 1, 2, 4, 5, 6])
    [True, True, True, False, False, True, True, True]
    >>> any(find_paragraph_sequence([1, 2, 1, 2, 3, 1, 2, 1, 2]))
    False
    >>> all(find_paragraph_sequence([50, 51, 52, 53, 54, 55]))
    True
    """
    accepted = [False] * len(numbers)
    last, restarts, index = 0, 0, 0
    while index < len(numbers):
        value = numbers[index]
        if last < value <= last + MAX_NUMBER_GAP:
            accepted[index] = True
            last = value
            index += 1
            continue
        if last == 0 and value > MAX_NUMBER_GAP and _continues(numbers, index):
            # an extract that starts mid-document ("50. 51. 52. ..."): the run itself is the evidence
            last = value - 1
            continue
        if value == 1 and last > 0:
            run_end = index
            while run_end + 1 < len(numbers) and numbers[run_end + 1] == numbers[run_end] + 1:
                run_end += 1
            resumes = run_end + 1 < len(numbers) and last < numbers[run_end + 1] <= last + MAX_NUMBER_GAP
            if resumes:
                index = run_end + 1  # a numbered list inside paragraph `last`
            else:
                restarts += 1
                last = 0  # a new sequence (annex): take this 1 on the next turn
            continue
        index += 1
    count = sum(accepted)
    if count < MIN_NUMBERED_PARAGRAPHS or restarts * PARAGRAPHS_PER_RESTART > count:
        return [False] * len(numbers)
    return accepted


def _assign_paragraph_numbers(sentences: list[_Sentence], pages: Sequence[Page]) -> None:
    candidates: list[tuple[_Sentence, int]] = []
    for sentence in sentences:
        if sentence.paragraph_start and not sentence.heading_start:
            match = _PARAGRAPH_NUMBER.match(sentence.text)
            if match:
                candidates.append((sentence, int(match.group(1))))
    accepted = find_paragraph_sequence([value for _, value in candidates])
    numbered = [s for (s, _), ok in zip(candidates, accepted, strict=True) if ok]
    if not numbered:
        return
    page_base = list(accumulate((len(p.text) + 1 for p in pages), initial=0))
    positions = [page_base[s.page_index] + s.start for s in numbered]
    if median(b - a for a, b in pairwise(positions)) > MAX_MEDIAN_PARAGRAPH_CHARS:
        return
    number_of = {id(s): str(value) for (s, value), ok in zip(candidates, accepted, strict=True) if ok}
    current: str | None = None
    for sentence in sentences:
        if sentence.heading_start:
            current = None  # a heading ends the paragraph before it
        current = number_of.get(id(sentence), current)
        sentence.paragraph_number = current


def _assign_heading_paths(sentences: list[_Sentence], pages: Sequence[Page]) -> None:
    stack: list[tuple[int, str]] = []
    events = sorted(
        (index, offset, level, title)
        for index, page in enumerate(pages)
        for offset, level, title in page.headings
    )
    position = 0
    for sentence in sentences:
        while position < len(events) and events[position][:2] <= (sentence.page_index, sentence.end):
            _, _, level, title = events[position]
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            position += 1
        sentence.heading_path = tuple(title for _, title in stack)


#: A document is cut in articles (a law, a regulation) when at least this many paragraphs open one;
#: a report that starts one paragraph with "Article 11 of the Covenant" is not.
MIN_ARTICLES = 3


def _assign_articles(sentences: list[_Sentence]) -> None:
    """Give each sentence the article it lies in: from a paragraph or heading opening one up to the
    next heading or article. A chapter heading between articles ends the article before it."""
    openings = [(s, article_label(s.text)) for s in sentences if s.paragraph_start or s.heading_start]
    if sum(label is not None for _, label in openings) < MIN_ARTICLES:
        return
    label_of = {id(s): label for s, label in openings}
    current: str | None = None
    for sentence in sentences:
        if id(sentence) in label_of and (sentence.heading_start or label_of[id(sentence)]):
            current = label_of[id(sentence)]
        sentence.article = current


def _document_sentences(
    pages: Sequence[Page], counter: TokenCounter, config: ChunkerConfig
) -> list[_Sentence]:
    raw = _raw_sentences(pages)
    for sentence, tokens in zip(raw, counter.count_batch([s.text for s in raw]), strict=True):
        sentence.tokens = tokens
    # Keep a margin below max_tokens: joining sentences can add a token or two.
    limit = max(1, config.max_tokens - 8)
    sentences: list[_Sentence] = []
    for sentence in raw:
        if sentence.tokens > limit:
            sentences.extend(_split_overlong(sentence, counter, limit))
        else:
            sentences.append(sentence)
    _assign_paragraph_numbers(sentences, pages)
    _assign_heading_paths(sentences, pages)
    _assign_articles(sentences)
    return sentences


# ---------------------------------------------------------------- packing


def _passage_span(sentences: Sequence[_Sentence], pages: Sequence[Page]) -> tuple[str, int, int]:
    """Text and offsets of contiguous sentences: an exact page slice, pages joined by "\\n"."""
    pieces: list[str] = []
    group_start = 0
    for index in range(1, len(sentences) + 1):
        if index == len(sentences) or sentences[index].page_index != sentences[group_start].page_index:
            first, last = sentences[group_start], sentences[index - 1]
            pieces.append(pages[first.page_index].text[first.start : last.end])
            group_start = index
    return "\n".join(pieces), sentences[0].start, sentences[-1].end


def _pack(sentences: list[_Sentence], config: ChunkerConfig) -> list[tuple[list[_Sentence], int]]:
    """Group sentences into passages; each group comes with the index of its first new sentence."""
    groups: list[tuple[list[_Sentence], int]] = []
    current: list[_Sentence] = []
    fresh = 0  # index in `current` of the first sentence not repeated from the previous passage
    tokens = 0
    for sentence in sentences:
        has_new = len(current) > fresh
        if has_new:
            boundary = sentence.paragraph_start or sentence.heading_start
            total = tokens + sentence.tokens
            close = (boundary and tokens >= config.boundary_fraction * config.target_tokens) or (
                total > config.target_tokens
                and not (tokens < config.min_tokens and total <= config.max_tokens)
            )
            if close:
                # A heading at the end of a passage belongs with the text that follows it.
                carried: list[_Sentence] = []
                while len(current) > fresh + 1 and current[-1].heading_start:
                    carried.insert(0, current.pop())
                if (
                    not carried
                    and boundary
                    and not sentence.heading_start
                    and not opens_article(sentence.text)
                ):
                    carried = _open_article(current, fresh, config)
                groups.append((current, fresh))
                overlap = [] if carried or boundary else _overlap(current[fresh:], config.overlap_tokens)
                current = overlap + carried
                fresh = len(overlap)
                tokens = sum(s.tokens for s in current)
                if tokens + sentence.tokens > config.max_tokens:
                    current, fresh, tokens = carried, 0, sum(s.tokens for s in carried)
        current.append(sentence)
        tokens += sentence.tokens
    if len(current) > fresh:
        groups.append((current, fresh))
    return _merge_small_tail(groups, config)


#: The opening of a numbered article of a law, in the corpus languages ("Art. 26.", "Статья 89.",
#: "第三十三条", "المادة الرابعة", "Artículo 5"). Not "§ 1", which continues an article in Brazilian
#: law, nor "Section 8", which opens many a paragraph about a US programme.
_ARTICLE = re.compile(
    r"\s*(?:(?P<word>Article|Artículo|Articulo|Artigo|Art\.?|Статья)\s*(?P<number>\d+(?:\.\d+)*(?:[º°ª]|-?[A-Z](?![a-z]))?)"
    r"|(?P<cjk>第[一二三四五六七八九十百千零〇\d]+条(?:之[一二三四五六七八九十]+)?)"
    r"|(?P<arabic>المادة\s+(?:\(?[\d٠-٩]+\)?|[\u0621-\u064a]+(?:\s+(?:عشرة|عشر|والعشرون|والثلاثون|والأربعون|والخمسون|والستون|والسبعون|والثمانون|والتسعون|بعد المائة))?)))",
    re.IGNORECASE,
)


def opens_article(text: str) -> bool:
    """Whether ``text`` starts a numbered article of a law.

    >>> opens_article("Art. 26 . O direito de preempção"), opens_article("第三十三条本市开展"), opens_article("I – item")
    (True, True, False)
    """
    return _ARTICLE.match(text) is not None


def article_label(text: str) -> str | None:
    """The citable name of the article ``text`` opens, as the law writes it ("Статья 89", "Art. 5º",
    "第三十条", "المادة الرابعة"), or None.

    >>> article_label("Статья 89. Предоставление"), article_label("Art 26 - O direito"), article_label("第三十条 出租人")
    ('Статья 89', 'Art. 26', '第三十条')
    >>> article_label("المادة الرابعة عشرة: تقوم الهيئة"), article_label("Article 11 of the Covenant")
    ('المادة الرابعة عشرة', 'Article 11')
    """
    match = _ARTICLE.match(text)
    if match is None:
        return None
    if match.group("word"):
        word = match.group("word")
        word = "Art." if word.lower().rstrip(".") == "art" else word
        return f"{word} {match.group('number')}"
    return " ".join((match.group("cjk") or match.group("arabic")).split())


def _open_article(current: list[_Sentence], fresh: int, config: ChunkerConfig) -> list[_Sentence]:
    """The last paragraph of ``current`` when it opens an article that the next paragraph continues
    ("Art. 26. ... for:" then "I - land regularisation;"): taken out, to open the next passage with
    its continuation. Nothing when that would leave less than ``min_tokens`` of new text behind."""
    start = next((i for i in range(len(current) - 1, fresh, -1) if current[i].paragraph_start), None)
    if start is None or not opens_article(current[start].text):
        return []
    if sum(s.tokens for s in current[fresh:start]) < config.min_tokens:
        return []
    carried = current[start:]
    del current[start:]
    return carried


def _overlap(sentences: Sequence[_Sentence], budget: int) -> list[_Sentence]:
    """The last sentences of a passage, up to ``budget`` tokens, to repeat in the next one."""
    chosen: list[_Sentence] = []
    used = 0
    # Never repeat the whole passage: the next one must move forward.
    for sentence in reversed(sentences[1:]):
        if used + sentence.tokens > budget:
            break
        chosen.insert(0, sentence)
        used += sentence.tokens
    return chosen


def _merge_small_tail(
    groups: list[tuple[list[_Sentence], int]], config: ChunkerConfig
) -> list[tuple[list[_Sentence], int]]:
    """Fold a last passage shorter than ``min_tokens`` into the one before, when both fit."""
    if len(groups) < 2:
        return groups
    (previous, previous_fresh), (last, last_fresh) = groups[-2], groups[-1]
    tail = last[last_fresh:]
    if sum(s.tokens for s in tail) >= config.min_tokens or tail[0].heading_start:
        return groups
    if previous[-1] is not tail[0] and previous[-1].end == tail[0].start:
        return groups  # not contiguous (cannot happen, but never build a gapped passage)
    merged = previous + [s for s in tail if s not in previous]
    if sum(s.tokens for s in merged) > config.max_tokens:
        return groups
    return [*groups[:-2], (merged, previous_fresh)]


def chunk_document(
    document_id: str,
    pages: Sequence[Page],
    counter: TokenCounter,
    config: ChunkerConfig,
    document_language: str | None,
) -> list[Passage]:
    """Cut cleaned pages into passages of about ``config.target_tokens`` model tokens.

    >>> passages = chunk_document("udhr-en", pages, TokenCounter(), ChunkerConfig(), "en")  # doctest: +SKIP
    >>> passages[0].page_start, passages[0].token_count <= 350  # doctest: +SKIP
    (None, True)
    """
    sentences = _document_sentences(pages, counter, config)
    passages: list[Passage] = []
    pending = _pack(sentences, config)
    while pending:
        group, fresh = pending.pop(0)
        text, char_start, char_end = _passage_span(group, pages)
        token_count = counter.count(text)
        if token_count > config.max_tokens and len(group) > 1:
            # Rare: joining changed the tokenisation. Move sentences to a passage of their own.
            cut = len(group) - 1
            while cut > 1 and counter.count(_passage_span(group[:cut], pages)[0]) > config.max_tokens:
                cut -= 1
            pending[:0] = [(group[:cut], min(fresh, cut - 1)), (group[cut:], 0)]
            continue
        # The heading path of the first new body sentence: headings opening a passage belong to it.
        new = group[min(fresh, len(group) - 1) :]
        lead = next((s for s in new if not s.heading_start), new[0])
        paragraphs = list(dict.fromkeys(s.paragraph_number for s in group if s.paragraph_number))
        articles = list(dict.fromkeys(s.article for s in group if s.article))
        passages.append(
            Passage(
                document_id=document_id,
                ordinal=len(passages),
                text=text,
                page_start=pages[group[0].page_index].number,
                page_end=pages[group[-1].page_index].number,
                char_start=char_start,
                char_end=char_end,
                paragraphs=paragraphs,
                articles=articles,
                heading_path=list(lead.heading_path),
                language=detect_language(text, fallback=document_language),
                token_count=token_count,
            )
        )
    return passages
