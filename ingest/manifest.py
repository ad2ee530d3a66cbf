"""The corpus manifest: which documents exist, where to find them, and what they are.

The manifest is a YAML file (``corpus_manifest.yaml``) with ``version: 1`` and a list of
``documents``. Each entry names a file relative to the corpus root and/or a download URL,
its SHA-256, and the metadata that search filters and facets use (type, countries,
regions, language, year), from the controlled vocabularies of :mod:`housing_kb.schema.vocabulary`.

>>> from housing_kb.config import Settings
>>> manifest = load_manifest(Settings.from_env().manifest_path)   # doctest: +SKIP
>>> manifest.get("za-hansard-ncop-2010-05-06").regions            # doctest: +SKIP
[<Region.AFRICA: 'africa'>]
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from housing_kb.schema.vocabulary import (
    DOCUMENT_TYPES,
    REGIONS,
    DocumentType,
    Region,
    is_country_code,
    is_language_code,
)

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MIN_YEAR = 1800
#: Key under which the YAML loader records the line of each mapping; removed before validation.
_LINE_KEY = "__line__"
#: Folder (under the corpus root) for documents that have a ``url`` but no ``path``.
DOWNLOADS_DIR = "downloads"
#: Largest manifest read: the corpus's own is 60 kB; a limit keeps a hostile file from exhausting memory.
MAX_MANIFEST_BYTES = 16 << 20
#: Longest quoted value, and longest problem line, in an error message.
MAX_QUOTED_CHARS = 80
MAX_PROBLEM_CHARS = 400


class ManifestError(Exception):
    """The manifest cannot be used. ``problems`` holds one line per problem found.

    >>> str(ManifestError(["m.yaml: entry 'x' field 'year': must be 1800 or later"]))
    "m.yaml: entry 'x' field 'year': must be 1800 or later"
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = [clip(p, MAX_PROBLEM_CHARS) for p in problems]
        super().__init__("\n".join(self.problems))


def clip(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when it was longer.

    >>> clip("abcdef", 4)
    'abc…'
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: Any) -> str:
    """A value as an error message shows it: its repr, cut short (a hostile value may be huge)."""
    if isinstance(value, (list, dict)):
        # never repr() a nested structure whole: YAML aliases can make it exponentially large
        return f"a {type(value).__name__} of {len(value)} item(s)"
    return clip(repr(value))


def github_raw_url(repository: str, commit: str, path_in_repo: str) -> str:
    """The raw download address of one file at one commit, each path segment percent-encoded.

    >>> github_raw_url("o/r", "abc", "docs/a b$(1).pdf")
    'https://raw.githubusercontent.com/o/r/abc/docs/a%20b%24%281%29.pdf'
    """
    # quote() encodes the UTF-8 bytes of non-ASCII names; safe="" also encodes '$', '(' and ')'.
    encoded = "/".join(quote(segment, safe="") for segment in path_in_repo.split("/"))
    return f"https://raw.githubusercontent.com/{repository}/{commit}/{encoded}"


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks so large PDFs never sit whole in memory.

    >>> sha256_file(Path("corpus/un_habitat/HSP-OEWG-H.2024-8.zh.txt"))[:12]   # doctest: +SKIP
    '629aab0c50b4'
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


class ManifestEntry(BaseModel):
    """One document of the corpus.

    >>> e = ManifestEntry(id="x-doc", path="a/b.pdf", title="B", document_type="law", regions=["africa"])
    >>> e.resolve(Path("/corpus")).as_posix()
    '/corpus/a/b.pdf'
    """

    # Unknown keys are errors, so a misspelt field ("country") never goes silently unused.
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    path: str | None = None
    url: str | None = None
    sha256: str | None = None
    title: str = Field(min_length=1)
    document_type: DocumentType
    countries: list[str] = Field(default_factory=list)
    regions: list[Region] = Field(min_length=1)
    language: str | None = None
    year: int | None = None
    publisher: str | None = None
    licence: str | None = None
    #: Where this copy came from (provenance); never downloaded.
    source_url: str | None = None
    notes: str | None = None
    #: The work this document is an edition of: translations and copies of one text share it
    #: ("udhr-1948"), and a result list shows one edition per work.
    work_id: str | None = None

    @field_validator("id", "work_id")
    @classmethod
    def _check_id(cls, value: str | None) -> str | None:
        if value is not None and not _ID_RE.match(value):
            raise ValueError(f"{quoted(value)} is not a slug (lower-case letters, digits and single hyphens)")
        return value

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        pure = PurePosixPath(value)
        # Paths are relative to the corpus root; refusing '..' keeps every document inside it.
        if not pure.parts or pure.is_absolute() or ".." in pure.parts or "\\" in value:
            raise ValueError(f"{quoted(value)} must be a relative POSIX path inside the corpus root")
        return value

    @field_validator("url", "source_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{quoted(value)} is not an http(s) URL")
        if any(ch.isspace() for ch in value):
            raise ValueError(f"{quoted(value)} contains white space (percent-encode it)")
        return value

    @field_validator("sha256")
    @classmethod
    def _check_sha256(cls, value: str | None) -> str | None:
        if value is None:
            return None
        lowered = value.lower()
        if not _SHA256_RE.match(lowered):
            raise ValueError(f"{quoted(value)} is not 64 hexadecimal digits")
        return lowered

    @field_validator("countries")
    @classmethod
    def _check_countries(cls, value: list[str]) -> list[str]:
        bad = [code for code in value if not is_country_code(code)]
        if bad:
            raise ValueError(_list_problem(bad, "an ISO 3166 alpha-3 code"))
        if len(set(value)) != len(value):
            raise ValueError("lists a country twice")
        return value

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, value: list[Region]) -> list[Region]:
        if len(set(value)) != len(value):
            raise ValueError("lists a region twice")
        if Region.GLOBAL in value and len(value) > 1:
            raise ValueError("'global' cannot be combined with other regions")
        return value

    @field_validator("language")
    @classmethod
    def _check_language(cls, value: str | None) -> str | None:
        if value is not None and not is_language_code(value):
            raise ValueError(f"{quoted(value)} is not an ISO 639-1 language code")
        return value

    @field_validator("year")
    @classmethod
    def _check_year(cls, value: int | None) -> int | None:
        latest = datetime.date.today().year + 1
        if value is not None and not _MIN_YEAR <= value <= latest:
            raise ValueError(f"{value} is outside {_MIN_YEAR}-{latest}")
        return value

    @model_validator(mode="after")
    def _check_location(self) -> ManifestEntry:
        if self.path is None and self.url is None:
            raise ValueError("needs a 'path' or a 'url'")
        if self.url is not None and self.sha256 is None:
            # A download that cannot be verified could silently replace a document.
            raise ValueError("an entry with a 'url' needs a 'sha256' to verify the download")
        return self

    @property
    def relative_path(self) -> str:
        """Path under the corpus root; url-only entries land in ``downloads/<id><suffix>``."""
        if self.path is not None:
            return self.path
        assert self.url is not None  # guaranteed by _check_location
        suffix = PurePosixPath(urlsplit(self.url).path).suffix.lower()
        return f"{DOWNLOADS_DIR}/{self.id}{suffix}"

    def resolve(self, corpus_dir: Path) -> Path:
        """Where this document lives (or will live once fetched) under ``corpus_dir``."""
        return corpus_dir / self.relative_path


class RejectedEntry(BaseModel):
    """A manifest entry that failed validation: it is reported and skipped, the rest goes on."""

    model_config = ConfigDict(frozen=True)

    #: The entry's id when it has a usable one (its indexed copy is then kept), else None.
    id: str | None
    #: "entry 'x'" or "entry #3 (line 40)", as messages name it.
    label: str
    problems: list[str]

    def line(self) -> str:
        return clip(f"{self.label}: " + "; ".join(self.problems), MAX_PROBLEM_CHARS)


class Manifest(BaseModel):
    """The whole manifest: a format version and the documents, ids unique.

    >>> Manifest(documents=[]).version
    1
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    documents: list[ManifestEntry] = Field(default_factory=list)
    #: Entries left out by ``load_manifest(strict=False)``, each with its problems.
    rejected: list[RejectedEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_unique(self) -> Manifest:
        problems = _duplicate_problems(
            [(d.id, None) for d in self.documents], [(d.relative_path, None) for d in self.documents]
        )
        if problems:
            raise ValueError("; ".join(problems.values()))
        return self

    def get(self, document_id: str) -> ManifestEntry:
        """The entry with this id; ``KeyError`` naming the id when there is none."""
        for entry in self.documents:
            if entry.id == document_id:
                return entry
        raise KeyError(f"no document {quoted(document_id)} in the manifest")

    def declared_ids(self) -> set[str]:
        """Ids of every entry, valid or rejected: a rejected entry's indexed copy is not deleted."""
        return {d.id for d in self.documents} | {r.id for r in self.rejected if r.id}

    def __len__(self) -> int:
        return len(self.documents)


def load_manifest(path: Path, *, strict: bool = True) -> Manifest:
    """Read and validate a manifest, reporting every problem at once.

    Problem lines each name the file, the entry (id, or position and line when the id is missing or
    bad) and the field. A file that is not a readable YAML manifest always raises ``ManifestError``.
    Problems of single entries raise too when ``strict``; otherwise those entries are returned in
    ``Manifest.rejected`` and the valid ones are used (``housing-kb ingest`` does this).

    >>> load_manifest(Path("corpus_manifest.yaml")).version   # doctest: +SKIP
    1
    """
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(
                [f"{path}: manifest is {size / 2**20:.0f} MB, over the {MAX_MANIFEST_BYTES >> 20} MB limit"]
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError([f"{path}: manifest file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError([f"{path}: cannot read manifest ({exc})"]) from None
    data = _parse_yaml(text, name)

    problems: list[str] = []
    if not isinstance(data, dict):
        raise ManifestError([f"{name}: top level must be a mapping with 'version' and 'documents'"])
    data.pop(_LINE_KEY, None)
    unknown = sorted(set(data) - {"version", "documents"})
    if unknown:
        problems.append(
            f"{name}: unknown top-level key(s): {', '.join(quoted(str(k)) for k in unknown[:10])}"
        )
    if data.get("version") != 1:
        problems.append(f"{name}: 'version' must be 1 (got {quoted(data.get('version'))})")
    raw_documents = data.get("documents")
    if not isinstance(raw_documents, list):
        problems.append(f"{name}: 'documents' must be a list of entries")
        raise ManifestError(problems)
    if problems:
        raise ManifestError(problems)

    duplicated = _duplicate_problems(*_ids_and_paths(raw_documents))
    entries: list[ManifestEntry] = []
    rejected: list[RejectedEntry] = []
    for index, raw in enumerate(raw_documents):
        entry, bad = _validate_entry(raw, index, duplicated)
        if entry is not None:
            entries.append(entry)
        else:
            rejected.append(bad)
    if strict and rejected:
        shared = set(duplicated.values())  # reported once for the file, not once per entry
        lines = [f"{name}: {r.label} {p}" for r in rejected for p in r.problems if p not in shared]
        raise ManifestError(lines + [f"{name}: {p}" for p in duplicated.values()])
    return Manifest(version=1, documents=entries, rejected=rejected)


def _validate_entry(
    raw: Any, index: int, duplicated: dict[tuple[str, str], str]
) -> tuple[ManifestEntry | None, RejectedEntry | None]:
    if not isinstance(raw, dict):
        return None, RejectedEntry(
            id=None, label=f"entry #{index + 1}", problems=["must be a mapping of fields"]
        )
    line = raw.get(_LINE_KEY)
    raw_id = raw.get("id")
    good_id = raw_id if isinstance(raw_id, str) and _ID_RE.match(raw_id) else None
    label = f"entry {good_id!r}" if good_id else f"entry #{index + 1}" + (f" (line {line})" if line else "")
    problems = [
        duplicated[(what, raw.get(what))]
        for what in ("id", "path")
        if isinstance(raw.get(what), str) and (what, raw.get(what)) in duplicated
    ]
    fields = {k: v for k, v in raw.items() if k != _LINE_KEY}
    try:
        entry = ManifestEntry.model_validate(fields)
    except ValidationError as exc:
        problems.extend(_describe(error) for error in exc.errors())
        entry = None
    if problems:
        # two entries sharing an id are both refused, and neither's indexed copy is touched
        return None, RejectedEntry(id=good_id, label=label, problems=problems)
    return entry, None


def validate_fields(fields: dict[str, Any]) -> tuple[ManifestEntry | None, list[str]]:
    """An entry from fields (a contribution's metadata with its id, path and checksum), or every
    problem at once, each naming its field, worded as a manifest's are.

    >>> validate_fields({"id": "x", "path": "uploads/a.md", "title": "", "regions": ["africa"],
    ...     "document_type": "law"})[1]
    ["field 'title': must not be empty"]
    """
    try:
        return ManifestEntry.model_validate(fields), []
    except ValidationError as exc:
        return None, [_describe(error) for error in exc.errors()]


def _describe(error: Any) -> str:
    """One pydantic error as "field 'x': message", with our own wording for common cases."""
    loc = error["loc"]
    field = str(loc[0]) if loc else ""
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        message = "unknown field"
    elif kind in ("too_short", "string_too_short"):
        message = "must not be empty"
    elif kind == "enum" and field == "regions":
        message = f"{quoted(value)} is not one of: {', '.join(REGIONS)}"
    elif kind == "enum":
        message = f"{quoted(value)} is not one of: {', '.join(DOCUMENT_TYPES)}"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    else:
        message = error["msg"]
    return f"field {field!r}: {message}" if field else message


def _list_problem(bad: list[str], what: str) -> str:
    if len(bad) == 1:
        return f"{quoted(bad[0])} is not {what}"
    shown = ", ".join(map(quoted, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    return f"{shown} are not each {what}"


Located = list[tuple[str, int | None]]


def _ids_and_paths(raw_documents: list[Any]) -> tuple[Located, Located]:
    """(value, line) of every string id and path among the raw entries."""
    ids: Located = []
    paths: Located = []
    for raw in raw_documents:
        if isinstance(raw, dict):
            line = raw.get(_LINE_KEY)
            if isinstance(raw.get("id"), str):
                ids.append((raw["id"], line))
            if isinstance(raw.get("path"), str):
                paths.append((raw["path"], line))
    return ids, paths


def _duplicate_problems(ids: Located, paths: Located) -> dict[tuple[str, str], str]:
    """("id" or "path", value) -> problem, for ids and local paths that several entries share (two
    entries must never share a file)."""
    problems = {}
    for what, located in (("id", ids), ("path", paths)):
        counts = Counter(value for value, _ in located)
        for value, count in sorted(counts.items()):
            if count > 1:
                lines = [str(line) for v, line in located if v == value and line is not None]
                where = f" (lines {', '.join(lines)})" if lines else ""
                problems[(what, value)] = f"{what} {quoted(value)} is used by {count} entries{where}"
    return problems


class _LineLoader(yaml.SafeLoader):
    """Safe loader that records each mapping's line and rejects duplicate keys and aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        # An alias re-uses a node: nested aliases ("billion laughs") expand a few hundred bytes into
        # gigabytes once constructed. A manifest has no use for them.
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a manifest", mark
            )
        return super().compose_node(parent, index)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            # PyYAML keeps the last duplicate silently; a repeated field is almost always a mistake.
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {quoted(key)}", key_node.start_mark
            )
        seen.add(key)
    mapping = loader.construct_mapping(node, deep=True)
    mapping[_LINE_KEY] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, name: str) -> Any:
    try:
        # _LineLoader derives from SafeLoader, so no arbitrary Python objects are built.
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ManifestError([f"{name}: {where}invalid YAML: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ManifestError([f"{name}: invalid YAML: {exc}"]) from None
