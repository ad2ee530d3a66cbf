"""Sentence ends in the six UN languages plus Portuguese: what the chunker packs into passages and
what answers quote, cut by the same rules.

Latin-script ends (. ! ? …) count only before white space, and not after an abbreviation ("e.g.",
"Art.", "ст."), an initial or a paragraph number ("53."); Chinese and Arabic ends (。！？；؟ ۔) always
count.
"""

from __future__ import annotations

import re

#: Words whose final period does not end a sentence (compared in lower case).
ABBREVIATIONS = frozenset(
    {
        # English and UN document usage
        *("e.g.", "i.e.", "cf.", "vs.", "al.", "approx.", "art.", "arts.", "no.", "nos.", "p.", "pp."),
        *("para.", "paras.", "ch.", "chap.", "sec.", "vol.", "fig.", "ed.", "eds.", "ibid.", "op."),
        *("cit.", "mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "inc.", "ltd.", "co.", "res."),
        *("rev.", "add.", "corr.", "doc.", "jan.", "feb.", "mar.", "apr.", "jun.", "jul.", "aug."),
        *("sep.", "sept.", "oct.", "nov.", "dec."),
        # Spanish, Portuguese, French
        *("sr.", "sra.", "srta.", "dra.", "núm.", "n.", "nº.", "pág.", "págs.", "párr.", "av.", "dto."),
        *("ud.", "uds.", "lic.", "ing.", "arq.", "mme.", "mlle.", "mm.", "m.", "me.", "éd.", "coll."),
        # Russian
        *("ст.", "т.е.", "т.д.", "т.п.", "т.к.", "п.", "пп.", "ч.", "гг.", "г.", "см.", "стр.", "др."),
        *("им.", "руб.", "тыс.", "млн.", "млрд.", "ред.", "утв."),
    }
)
_LATIN_END = re.compile(r"(?:[.!?…]+|\.\.\.)[\"'”’»)\]]*(?=\s|$)")
_OTHER_END = re.compile(r"[。！？；!?؟۔]+[\"'”’»」』）)\]]*")
_WORD_BEFORE = re.compile(r"\S+$")


def _is_false_stop(block: str, stop: int, end: int) -> bool:
    """True when the period ending at ``stop`` (in ``block``) does not end a sentence."""
    if block[stop - 1] != ".":
        return False
    word_match = _WORD_BEFORE.search(block, 0, stop)
    word = word_match.group() if word_match else ""
    if word.lower() in ABBREVIATIONS:
        return True
    core = word.rstrip(".")
    if len(core) == 1 and core.isalpha() and core.isupper():
        return True  # an initial: "J. Smith"
    if core.isdigit() and word_match is not None and not block[: word_match.start()].strip():
        return True  # a paragraph number: "53. The Working Group ..."
    following = block[end:].lstrip()[:1]
    # A lower-case continuation means an abbreviation we do not know ("approx. three").
    return bool(following) and following.islower()


def split_sentences(block: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` in one block of text, without surrounding spaces.

    >>> text = "See Art. 5. 住房。平等！ Done"
    >>> [text[s:e] for s, e in split_sentences(text)]
    ['See Art. 5.', '住房。', '平等！', 'Done']
    """
    stops: set[int] = set()
    for match in _LATIN_END.finditer(block):
        if not _is_false_stop(block, match.start() + len(match.group().rstrip("\"'”’»)]")), match.end()):
            stops.add(match.end())
    stops.update(m.end() for m in _OTHER_END.finditer(block))
    spans: list[tuple[int, int]] = []
    start = 0
    for stop in [*sorted(stops), len(block)]:
        piece = block[start:stop]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        start = stop
    return spans
