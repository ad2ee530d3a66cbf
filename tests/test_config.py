"""The settings object: its variables, their validation, and the README's table generated from it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from housing_kb.config import (
    REPO_ROOT,
    ConfigError,
    Settings,
    current_settings,
    env_name,
    settings_table_markdown,
)

START, END = "<!-- settings-table:start -->\n", "<!-- settings-table:end -->"


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index(START) + len(START) : readme.index(END)]
    assert table == settings_table_markdown(), "run: python -m housing_kb.config --markdown"


def test_the_markdown_entry_point_prints_the_table() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "housing_kb.config", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    ).stdout
    assert out == settings_table_markdown()


def test_every_variable_is_documented_and_internal_fields_have_none(monkeypatch) -> None:
    table = settings_table_markdown()
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("internal"):
            assert f"`{env_name(name)}`" not in table
            continue
        assert field.description, name
        assert f"| `{env_name(name)}` |" in table
    monkeypatch.setenv("HOUSING_KB_DATA_ROOT", "/elsewhere")
    assert Settings().data_root is None  # set by code only (a contribution's staging index)


def test_defaults_are_those_of_before() -> None:
    from housing_kb.api.guards import MAX_BODY_BYTES
    from housing_kb.index.dense.files import ANN_MIN_DEFAULT
    from housing_kb.ingest.limits import DocumentLimits

    s = Settings.model_construct()  # the defaults alone, whatever the environment says
    assert (s.index_dir, s.cache_dir) == (REPO_ROOT / "data" / "index", REPO_ROOT / ".cache")
    assert s.manifest_path == REPO_ROOT / "corpus_manifest.yaml"
    assert (s.embedder, s.second_embedder, s.query_engine, s.backend) == (
        "e5-small",
        "use-multilingual",
        "onnx",
        "embedded",
    )
    assert (s.ann_min, s.translation_cache, s.faiss_threads, s.blas_threads) == (ANN_MIN_DEFAULT, 8192, 1, 1)
    assert s.language_neutral and s.worker and not s.require_key and not s.allow_private_urls
    assert (s.rate_limit, s.key_rate_limit, s.rate_limit_storage) == (
        "300/minute",
        "1200/minute",
        "memory://",
    )
    assert (s.max_body_bytes, s.max_upload_mb, s.brief_workers, s.brief_queue) == (MAX_BODY_BYTES, 50, 2, 4)
    assert DocumentLimits.from_settings(s) == DocumentLimits()
    assert (s.milvus_prefix, s.milvus_target_uri) == ("housing_kb", str(REPO_ROOT / "data" / "milvus.db"))


def test_variables_are_read_stripped_and_empty_ones_are_unset(monkeypatch) -> None:
    monkeypatch.setenv("HOUSING_KB_INDEX", " ~/kb/index ")
    monkeypatch.setenv("HOUSING_KB_MAX_PAGES", " 7 ")
    monkeypatch.setenv("HOUSING_KB_WORKER", "off")
    monkeypatch.setenv("HOUSING_KB_REQUIRE_KEY", "1")
    monkeypatch.setenv("HOUSING_KB_RATE_LIMIT", "OFF")
    monkeypatch.setenv("HOUSING_KB_CORS_ORIGINS", "https://a.example, https://b.example,")
    monkeypatch.setenv("HOUSING_KB_MILVUS_PREFIX", "")
    monkeypatch.setenv("HOUSING_KB_BACKEND", "Milvus")
    s = Settings.from_env()
    assert s.index_dir == Path("~/kb/index").expanduser() and s.data_dir == s.index_dir.parent
    assert (s.max_pages, s.worker, s.require_key, s.rate_limit) == (7, False, True, "off")
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert (s.milvus_prefix, s.backend) == ("housing_kb", "milvus")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HOUSING_KB_MAX_PAGES", "many", "HOUSING_KB_MAX_PAGES='many' is not a whole number"),
        ("HOUSING_KB_MAX_UPLOAD_MB", "0", "HOUSING_KB_MAX_UPLOAD_MB='0' must be at least 1"),
        ("HOUSING_KB_WORKER", "perhaps", "HOUSING_KB_WORKER='perhaps' is not on or off"),
        ("HOUSING_KB_BACKEND", "redis", "HOUSING_KB_BACKEND must be one of embedded, milvus, not 'redis'"),
        ("HOUSING_KB_KEY_RATE_LIMIT", "fast", "HOUSING_KB_KEY_RATE_LIMIT='fast' is not a rate"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_variable(monkeypatch, variable, value, message) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_cli_reports_a_bad_setting_in_one_line(monkeypatch) -> None:
    from typer.testing import CliRunner

    from housing_kb.api.cli import app

    monkeypatch.setenv("HOUSING_KB_MAX_PAGES", "many")
    result = CliRunner().invoke(app, ["stats"])
    assert result.exit_code == 2
    assert "error: HOUSING_KB_MAX_PAGES='many' is not a whole number" in result.output
    assert "Traceback" not in result.output


def test_with_changes_fields_and_validates_them() -> None:
    s = Settings()
    moved = s.with_(index_dir=Path("/tmp/x/index"), max_pages=5)
    assert (moved.index_dir, moved.data_dir, moved.max_pages) == (Path("/tmp/x/index"), Path("/tmp/x"), 5)
    assert s.max_pages != 5 or s.index_dir != moved.index_dir  # a copy: the original is unchanged
    with pytest.raises(ConfigError, match="HOUSING_KB_MAX_PAGES=0 must be at least 1"):
        s.with_(max_pages=0)
    with pytest.raises(TypeError, match="no field colour"):
        s.with_(colour="red")
    with pytest.raises(ValueError):  # frozen
        s.max_pages = 3  # type: ignore[misc]


def test_the_cached_accessor_follows_the_environment(monkeypatch) -> None:
    first = current_settings()
    assert current_settings() is first
    monkeypatch.setenv("HOUSING_KB_FAISS_THREADS", "3")
    assert current_settings().faiss_threads == 3
    monkeypatch.delenv("HOUSING_KB_FAISS_THREADS")
    assert current_settings() == first


def test_the_legacy_fast_queries_switch_is_gone(monkeypatch) -> None:
    monkeypatch.setenv("HOUSING_KB_FAST_QUERIES", "0")
    assert Settings().query_engine == "onnx"
    assert "HOUSING_KB_FAST_QUERIES" not in settings_table_markdown()


def test_no_module_reads_our_variables_from_the_environment() -> None:
    """Only housing_kb/config.py reads ``HOUSING_KB_*``: everything else is handed a Settings."""
    offenders = []
    for folder in ("api", "index", "ingest", "housing_kb", "evaluation"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            if path == REPO_ROOT / "housing_kb" / "config.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and _reads_environment(node):
                    args = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                    if any(a.value.startswith("HOUSING_KB_") for a in args):
                        offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert offenders == []


def _reads_environment(node: ast.Call) -> bool:
    func = ast.unparse(node.func)
    return func in ("os.getenv", "os.environ.get", "environ.get", "getenv", "env.get")
