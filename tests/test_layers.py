"""The layers import one way (README, "Layout"): ruff's TID251 rule, configured per folder, refuses an
import that crosses a layer the wrong way, and the tree has none."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from housing_kb.config import REPO_ROOT

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
pytestmark = pytest.mark.skipif(RUFF is None, reason="ruff is not installed")


def _check(path: str, source: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RUFF, "check", "--select", "TID251", "--output-format", "concise", "--stdin-filename", path, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("index/probe.py", "from housing_kb.ingest.manifest import load_manifest\n"),
        ("index/probe.py", "def f():\n    from housing_kb.api.app import create_app\n"),
        ("ingest/probe.py", "import housing_kb.api.cli\n"),
        ("housing_kb/schema/probe.py", "from housing_kb.index.store.index_store import IndexStore\n"),
        ("housing_kb/text/probe.py", "from housing_kb.ingest.chunking import chunk_document\n"),
        ("housing_kb/models/probe.py", "from housing_kb.ingest import pipeline\n"),
        ("index/probe.py", "import faiss\n"),
        ("index/query/probe.py", "from pymilvus import MilvusClient\n"),
        ("index/answers/probe.py", "from housing_kb.ingest.manifest import load_manifest\n"),
        ("api/probe.py", "import faiss\n"),
        ("ingest/probe.py", "import pymilvus\n"),
        ("index/adapters/probe.py", "from housing_kb.ingest import pipeline\n"),
    ],
)
def test_an_import_against_the_layers_is_refused(path, source):
    result = _check(path, source)
    assert result.returncode == 1 and "TID251" in result.stdout, result.stdout + result.stderr


def test_imports_along_the_layers_are_allowed():
    source = "from housing_kb.schema.records import Passage\nfrom housing_kb.index.store.index_store import IndexStore\n"
    assert _check("ingest/probe.py", source).returncode == 0
    assert _check("index/probe.py", "from housing_kb.text.geography import Gazetteer\n").returncode == 0
    assert _check("index/adapters/probe.py", "import faiss\nimport pymilvus\n").returncode == 0


def test_the_tree_keeps_its_layers():
    result = subprocess.run(
        [RUFF, "check", "--select", "TID251", "--output-format", "concise", "."],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
