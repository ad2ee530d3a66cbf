"""``housing-kb tag``: the stable JSONL interface other tools read (same tagger as ingest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.model

LINES = [
    {
        "id": "p1",
        "text": "Tenants may not be evicted without a court order; informal settlers get titles.",
        "language": "en",
        "document_countries": ["KEN"],
    },
    {
        "id": "p2",
        "text": "Le gouvernement marocain subventionne les prêts hypothécaires des ménages modestes.",
    },
    {"id": "p3", "text": "沙特住房部为首次购房家庭提供无息贷款。", "language": "zh"},
]


def _run(args: list[str], stdin: str, cache) -> subprocess.CompletedProcess:
    env = os.environ | {"HOUSING_KB_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "housing_kb.api.cli", "tag", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_tag_reads_and_writes_jsonl(model_settings, e5_model_dir):
    proc = _run(
        [], "\n".join(json.dumps(x, ensure_ascii=False) for x in LINES) + "\n", model_settings.cache_dir
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["id"] for o in out] == ["p1", "p2", "p3"]
    for o in out:
        assert set(o) == {"id", "components", "component_confidence", "stages", "countries", "regions"}
    by_id = {o["id"]: o for o in out}
    assert "security_of_tenure" in by_id["p1"]["components"]
    assert by_id["p1"]["countries"] == ["KEN"] and by_id["p1"]["regions"] == ["africa"]
    assert "affordability" in by_id["p2"]["components"] and by_id["p2"]["countries"] == ["MAR"]
    assert by_id["p3"]["countries"] == ["SAU"] and by_id["p3"]["regions"] == ["arab_states"]


def test_tag_names_the_bad_line(model_settings, e5_model_dir):
    proc = _run(
        ["--lexical-only"], '{"id": "ok", "text": "housing"}\n{"text": "no id"}\n', model_settings.cache_dir
    )
    assert proc.returncode == 2
    assert "stdin line 2" in proc.stderr and '"id"' in proc.stderr
    assert "Traceback" not in proc.stderr
