"""Passage types: which passages are the document's content (``body``) and which are its furniture.

Reference lists, contents pages, cookie notices, cover pages, lists of participants and tables are
kept in the index, but a search, an answer or a brief hides them unless asked (``kind=`` filters).
Each type has one detector: a function that says how much of a passage's text is of that type (a
share of its characters, from 0 to 1), from patterns any reader of such documents would name. A
passage takes a non-body type only when that share is most of its text, as the labelling rules of
``evaluation/data/PASSAGE_KINDS.md`` say, and when in doubt it stays body: hiding content is worse
than showing furniture. Precision and recall per type are measured on a labelled sample by
``python -m housing_kb.evaluation.eval_passage_kinds`` (figures in the README).

>>> classify_passage("Contents\\nI. Introduction ........ 3\\nII. Tenure ........ 7\\nIII. Costs ....... 12")
'table_of_contents'
>>> classify_passage("Everyone has the right to adequate housing, including security of tenure.")
'body'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from housing_kb.schema.records import Passage
from housing_kb.schema.vocabulary import BODY

#: A detector's share of the text above which the passage is of its type ("most of its text").
MOST_OF_TEXT = 0.5
#: Bump when a detector changes: ingest then re-derives every stored passage's kind from its text.
DETECTORS_VERSION = "2"


@dataclass(frozen=True)
class PassageContext:
    """What a detector may know besides the text: where the passage sits in its document."""

    ordinal: int = 0
    passages_in_document: int = 1
    document_type: str | None = None

    @property
    def near_start(self) -> bool:
        """Among the first passages: where covers, symbols and copyright pages are."""
        return self.ordinal < max(3, round(0.03 * self.passages_in_document))

    @property
    def near_end(self) -> bool:
        return self.passages_in_document - self.ordinal <= max(3, round(0.05 * self.passages_in_document))


Detector = Callable[[str, list[str], PassageContext], float]


def _share(text: str, pieces: list[str]) -> float:
    """The share of the text's non-space characters that these pieces hold."""
    total = len(re.sub(r"\s", "", text))
    return min(1.0, sum(len(re.sub(r"\s", "", p)) for p in pieces) / total) if total else 0.0


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _width(text: str) -> int:
    """Length in Latin-text terms: a Chinese character carries about as much as three letters."""
    return len(text) + 2 * len(_CJK.findall(text))


def _segments(text: str) -> list[str]:
    """Lines, with long lines (wrapped text that cleaning joined) cut after sentence ends."""
    out: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if len(line) <= 300:
            out.append(line)
        else:
            out.extend(s for s in re.split(r"(?<=[.;。；])\s+", line) if s.strip())
    return out


# ---------------------------------------------------------------- table of contents

#: A sentence ends here: a word of three letters or more, then a full stop (not "1." or "Art.").
_SENTENCE_END = re.compile(r"[^\W\d_]{3,}[.;!?。；！？؟](?:[\"'”’»)]*)(?:\s|$)")

#: A title followed by leader dots (or a run of spaced dots) and a page number.
_LEADER_ENTRY = re.compile(r"[^\n]{0,160}?(?:[.…·_]\s?){4,}\s*[\divxlcIVXLC]{1,5}\b")
_CONTENTS_WORD = re.compile(
    r"^\s*(?:table of contents|contents|índice|sumário|sumario|table des matières|sommaire"
    r"|содержание|оглавление|目录|目\s*录|المحتويات|فهرس)\b",
    re.IGNORECASE | re.MULTILINE,
)
#: "Chapter 3 Finance 45": a numbered title ending in a page number, with nothing after it.
_TITLE_WITH_PAGE = re.compile(
    r"^\s*(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.|chapter|cap[íi]tulo|chapitre|глава|section|annex|anexo|第.{1,4}[章节条])"
    r"[^\n]{2,120}?\s\d{1,3}\s*$",
    re.IGNORECASE,
)


#: A title followed by "p. 12" (contents pages that give the page in words rather than leaders).
_PAGE_ENTRY = re.compile(r"[^\n]{3,160}?\s(?:p\.|page|pág\.|стр\.|с\.)\s?\d{1,3}\b", re.IGNORECASE)


def table_of_contents(text: str, segments: list[str], context: PassageContext) -> float:
    pieces = [m.group() for m in _LEADER_ENTRY.finditer(text)]
    page_entries = [m.group() for m in _PAGE_ENTRY.finditer(text)]
    if len(page_entries) >= 3:  # one "p. 12" is a cross-reference; a run of them is a contents list
        pieces += page_entries
    if _CONTENTS_WORD.search(text):
        pieces += [s for s in segments if _TITLE_WITH_PAGE.match(s)]
        if context.near_start:
            # A contents page without page numbers: titles, with no sentence among them.
            pieces += [s for s in segments if not _SENTENCE_END.search(s)]
        # The heading itself counts with its entries.
        pieces += [m.group() for m in _CONTENTS_WORD.finditer(text)]
    return _share(text, pieces)


# ---------------------------------------------------------------- reference lists

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_CITATION_MARKS = re.compile(
    r"\bet al\b|\bibid\b|\bop\. cit\b|\bpp?\.\s?\d|\bvol\.\s?\d|\bno\.\s?\d+\b|\bdoi\b|\bisbn\b"
    r"|\bretrieved\b|\baccessed\b|\bavailable (?:at|from|online)\b|\bconsultado\b|\bdisponível em\b"
    r"|\bdisponible en\b|\bconsulté\b|\bэлектронный ресурс\b|\bURL\b|\bjournal\b|\bpress\b|\beds?\.\b"
    r"|\(\d{4}[a-z]?\)|[,.]\s\(?(?:19|20)\d{2}[a-z]?[.,)]",
    re.IGNORECASE,
)
#: A footnote or endnote line: a number, then its text (" 12 See A/HRC/43/43, para. 5.").
_NOTE_START = re.compile(r"^\s*(?:\[\d{1,3}\]|\(\d{1,3}\)|\d{1,3}(?=\s+\S)|[¹²³⁴-⁹]+)")
_REFERENCES_WORD = re.compile(
    r"^\s*(?:references|bibliography|works cited|sources|further reading|notes|endnotes|footnotes"
    r"|referencias|bibliografía|referências|bibliografia|notas|fuentes|fontes|références|notes de bas"
    r"|список литературы|литература|источники|примечания|参考文献|注释|المراجع|الهوامش)\b",
    re.IGNORECASE | re.MULTILINE,
)


#: Characters of text one citation mark accounts for: a reference entry is short and dense with
#: years, URLs and page numbers, while prose that cites a source has one mark in a long sentence.
CHARS_PER_CITATION_MARK = 80


def _citation_marks(text: str) -> int:
    return len(_CITATION_MARKS.findall(text)) + 2 * len(_URL.findall(text))


def reference_list(text: str, segments: list[str], context: PassageContext) -> float:
    pieces = []
    for segment in segments:
        marks = _citation_marks(segment)
        note = _NOTE_START.match(segment) is not None and len(segment) < 300
        if marks * CHARS_PER_CITATION_MARK >= _width(segment) or (marks and note):
            pieces.append(segment)
    if _REFERENCES_WORD.search(text):
        pieces += [m.group() for m in _REFERENCES_WORD.finditer(text)]
    # Entries that cleaning joined into one run of text: judge the density over the whole passage.
    dense = min(1.0, _citation_marks(text) * CHARS_PER_CITATION_MARK / max(1, _width(text)))
    return max(_share(text, pieces), dense)


# ---------------------------------------------------------------- web and publishing furniture

_FURNITURE = re.compile(
    r"cookie|skip to (?:main )?content|opt[- ]out|privacy (?:policy|notice|settings)|terms of (?:use|service)"
    r"|all rights reserved|share (?:this|on)|follow us|subscribe|sign up|newsletter|log ?in\b|sign in"
    r"|print this|back to top|last (?:edited|updated|modified|built)|built (?:using|with)|powered by"
    r"|read more|related (?:articles|posts|content)|this page was|site ?map|contact us|accessibility"
    r"|facebook|twitter|linkedin|instagram|youtube|whatsapp|e-?mail this|copy link|breadcrumb"
    r"|aceptar|política de privacidad|suscríbete|compartir|inicio\b|accepter|politique de confidentialité"
    r"|partager|accueil\b|aceitar|política de privacidade|compartilhar|политика конфиденциальности"
    r"|поделиться|главная|隐私政策|分享|首页|سياسة الخصوصية|مشاركة|الرئيسية",
    re.IGNORECASE,
)


#: Furniture is a menu item, a button or a one-line notice; a longer sentence needs two such terms
#: (a cookie notice: "cookies", "opt-out"), since one is as likely to be content ("built using").
FURNITURE_LINE_WIDTH = 120


def boilerplate(text: str, segments: list[str], context: PassageContext) -> float:
    # A furniture line is short (a menu item, a button, a notice); a sentence that merely mentions
    # cookies or Twitter in the middle of a paragraph is content.
    pieces = [
        s
        for s in segments
        if (n := len(_FURNITURE.findall(s))) and (_width(s) < FURNITURE_LINE_WIDTH or n >= 2)
    ]
    # Menus are runs of very short lines between furniture lines.
    lines = [s for s in segments if s.strip()]
    if pieces and len(lines) >= 6:
        short = [s for s in lines if len(s.split()) <= 4 and not re.search(r"[.;:。]$", s.strip())]
        if len(short) >= 0.6 * len(lines):
            pieces += short
    return _share(text, list(dict.fromkeys(pieces)))


# ---------------------------------------------------------------- lists of people

_HONORIFIC = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|H\.E|Hon|Sr|Sra|Dra|M|Mme|Srta|Eng|Arch)\.?\s+[A-ZÀ-Ý]"
    r"|\b(?:г-н|г-жа)\s|السيد|السيدة|先生|女士",
)
#: "Jane Doe, Ministry of Housing" / "DOE, Jane (Kenya)" / "A. Surname": a name with its affiliation.
_NAME_LINE = re.compile(
    r"^\s*(?:[A-ZÀ-Ý][\w'’\-]*\.?\s(?:(?:de|da|do|dos|das|del|la|e|y|van|von|der|bin|al)\s)?){1,5}"
    r"[A-ZÀ-Ý][\w'’\-]+\s*(?:[,(–—-]\s*[^\n]{0,120})?$"
)
_SIGNATURE = re.compile(r"^[A-ZÀ-ÝА-Я][A-ZÀ-ÝА-Я .'\-]{5,60}$")
_PEOPLE_WORD = re.compile(
    r"\b(?:participants|attendees|attendance|members of|list of (?:participants|members|contributors)"
    r"|contributors|task force members|authors|authored by|about the authors?|signatories"
    r"|lista de participantes|participantes|equipo autoral|sobre (?:los|as|os) autor[ea]s|autores"
    r"|liste des participants|à propos des auteurs|список участников|об авторах|参会人员|出席|作者"
    r"|قائمة المشاركين|المشاركون|عن المؤلفين)\b",
    re.IGNORECASE,
)


#: Characters a listed person takes, with title and affiliation ("Ms. Joy B. Sinay, NEDA").
CHARS_PER_NAME = 45


def participant_list(text: str, segments: list[str], context: PassageContext) -> float:
    lines = [s for s in text.split("\n") if s.strip()]
    people = [
        s
        for s in lines
        if len(s) < 160 and (_HONORIFIC.search(s) or _NAME_LINE.match(s) or _SIGNATURE.match(s.strip()))
    ]
    share = _share(text, people)
    honorifics = len(_HONORIFIC.findall(text))
    # Names alone are ambiguous (a list of programme names looks the same); a heading, honorifics
    # or the place (the signatories closing a law) make it a list of people.
    named = (
        _PEOPLE_WORD.search(text) or honorifics >= 3 or (context.near_end and context.document_type == "law")
    )
    dense = min(1.0, honorifics * CHARS_PER_NAME / max(1, len(text)))
    return max(share if named or share > 0.8 else 0.5 * share, dense)


# ---------------------------------------------------------------- front matter

_FRONT_MARKS = re.compile(
    r"\bdistr\.?:?\s*(?:general|limited|restricted)|\bgeneral\s+distribution\b|\bGE\.\d{2}-\d+"
    r"|\b[A-Z]{1,5}(?:/[A-Z0-9.\-]+){2,}|\bitem \d+ of the (?:provisional )?agenda|provisional agenda"
    r"|\bisbn\b|\bissn\b|copyright|©|all rights reserved|\bdisclaimer\b|designations employed"
    r"|do not (?:necessarily )?(?:imply|reflect)|printed in|^published by|^prepared by|acknowledg"
    r"|\boriginal:\s*\w+|\bsales no\.|\bpublicaci[óo]n de las naciones unidas|tous droits réservés"
    r"|todos os direitos|derechos reservados|agradecimientos|agradecimentos|remerciements"
    r"|\bdistr\.\s*:|ordre du jour provisoire|programa provisional|предварительная повестка"
    r"|临时议程|جدول الأعمال المؤقت|版权所有|جميع الحقوق محفوظة"
    # contact blocks of covers and back covers
    r"|\btel\.?\s?:|\bfax\s?:|\be-?mail\s?:|\bphone\s?(?:no\.?)?\s?:|\bwebsite\s?:|\bтел\.?:|هاتف",
    re.IGNORECASE,
)


def front_matter(text: str, segments: list[str], context: PassageContext) -> float:
    # A mark in a short line (a cover, a symbol block) or several in one: not one in a long sentence.
    pieces = [s for s in segments if len(_FRONT_MARKS.findall(s)) * 150 >= len(s)]
    share = _share(text, pieces)
    # Covers and copyright pages sit at the start (or, as a back cover, at the end) of a document.
    return share if context.near_start or context.near_end else 0.6 * share


# ---------------------------------------------------------------- tables

_NUMBER_CELL = re.compile(r"(?<![\w.])[-+(]?\d[\d.,]*%?\)?(?![\w])")


def _figures_run(segment: str) -> bool:
    """A long run of cells that cleaning joined into one line: mostly figures, no sentence end."""
    words = max(len(segment.split()), _width(segment) // 6)  # Chinese has no spaces between words
    return (
        words >= 12
        and len(_NUMBER_CELL.findall(segment)) >= 0.4 * words
        and len(_SENTENCE_END.findall(segment)) <= 1
    )


def table(text: str, segments: list[str], context: PassageContext) -> float:
    lines = [s for s in text.split("\n") if s.strip()]
    pipe_rows = [s for s in lines if s.count("|") >= 3]
    if len(pipe_rows) >= 3:
        return _share(text, pipe_rows)
    runs = [s for s in segments if _figures_run(s)]
    if runs and _share(text, runs) > MOST_OF_TEXT:
        return _share(text, runs)
    if len(lines) < 3:
        # Joined cells: a long run of figures with few words between them.
        words = text.split()
        numbers = _NUMBER_CELL.findall(text)
        sentences = len(re.findall(r"[a-zà-ÿа-я]{3,}[.;。](?:\s|$)", text))
        return 1.0 if len(words) >= 20 and len(numbers) >= 0.45 * len(words) and sentences <= 1 else 0.0
    rows = []
    for line in lines:
        cells = len(_NUMBER_CELL.findall(line))
        words = max(len(line.split()), _width(line) // 6)  # Chinese has no spaces between words
        sentence = re.search(r"[a-zà-ÿа-я]{3,}[.;。]\s*$", line) is not None
        figures = sum(len(c) for c in _NUMBER_CELL.findall(line))
        short_row = words <= 6 and figures >= 0.5 * len(re.sub(r"\s", "", line))  # "2024  45.2  12 %"
        if not sentence and ((cells >= 2 and cells >= 0.3 * words) or short_row):
            rows.append(line)
    return _share(text, rows) if len(rows) >= 3 else 0.0


#: Detectors in the order they are tried: the first whose share is most of the text decides.
DETECTORS: tuple[tuple[str, Detector], ...] = (
    ("table_of_contents", table_of_contents),
    ("reference_list", reference_list),
    ("boilerplate", boilerplate),
    ("participant_list", participant_list),
    ("front_matter", front_matter),
    ("table", table),
)


def kind_shares(text: str, context: PassageContext | None = None) -> dict[str, float]:
    """Each detector's share of the text (for evaluation and for explaining a decision)."""
    context = context or PassageContext()
    segments = _segments(text)
    return {kind: round(detect(text, segments, context), 3) for kind, detect in DETECTORS}


def classify_passage(text: str, context: PassageContext | None = None) -> str:
    """The passage's kind: the first detector holding most of the text, else body."""
    for kind, share in kind_shares(text, context).items():
        if share > MOST_OF_TEXT:
            return kind
    return BODY


def mark_passage_kinds(passages: Sequence[Passage], document_type: str | None) -> None:
    """Set the ``kind`` of every passage of one document, in place."""
    for passage in passages:
        context = PassageContext(passage.ordinal, len(passages), document_type)
        passage.kind = classify_passage(passage.text, context)
