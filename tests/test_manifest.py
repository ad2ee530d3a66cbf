"""The corpus manifest: the real one is complete and correct; broken ones fail with every problem named."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from housing_kb.config import REPO_ROOT, Settings
from housing_kb.ingest.manifest import (
    ManifestEntry,
    ManifestError,
    github_raw_url,
    load_manifest,
    sha256_file,
)
from housing_kb.schema.vocabulary import DOCUMENT_TYPES, REGIONS

MANIFEST_PATH = REPO_ROOT / "corpus_manifest.yaml"
CORPUS_DIR = Settings.from_env().corpus_dir
needs_corpus = pytest.mark.skipif(not CORPUS_DIR.is_dir(), reason=f"corpus not found at {CORPUS_DIR}")


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(MANIFEST_PATH)


@pytest.fixture(scope="module")
def provenance() -> dict[str, dict[str, str]]:
    with (CORPUS_DIR / "PROVENANCE.tsv").open(encoding="utf-8", newline="") as handle:
        return {row["relative_path"]: row for row in csv.DictReader(handle, delimiter="\t")}


def test_real_manifest_loads_with_expected_shape(manifest) -> None:
    assert manifest.version == 1
    assert len(manifest) == 60
    assert len({e.id for e in manifest.documents}) == 60
    assert manifest.get("un-habitat-oewg-2024-8-zh").document_type == "un_habitat_report"
    assert manifest.get("un-habitat-oewg-2024-8-zh").regions == ["global"]
    assert manifest.get("za-hansard-ncop-2010-05-06").countries == ["ZAF"]
    # Global documents name no country; country documents never claim "global".
    for entry in manifest.documents:
        assert (entry.regions == ["global"]) == (entry.countries == []), entry.id


@needs_corpus
def test_every_corpus_file_is_listed_and_every_checksum_matches(manifest) -> None:
    on_disk = {
        p.relative_to(CORPUS_DIR).as_posix()
        for p in CORPUS_DIR.rglob("*")
        if p.is_file() and p.name != "PROVENANCE.tsv"
    }
    listed = {e.path for e in manifest.documents}
    assert listed == on_disk
    for entry in manifest.documents:
        assert sha256_file(entry.resolve(CORPUS_DIR)) == entry.sha256, entry.id


@needs_corpus
def test_urls_only_for_byte_copies_and_built_from_provenance(manifest, provenance) -> None:
    for entry in manifest.documents:
        row = provenance[entry.path]
        assert entry.sha256 == row["sha256"], entry.id
        # "converted to markdown by the repo" is fine: the repository's own file is what we hold.
        notes = row["notes"].lower()
        converted = any(k in notes for k in ("converted from the repository", "transcribed", "derived"))
        if entry.url is None:
            continue
        assert not converted, f"{entry.id}: url given for a converted file"
        assert entry.url.isascii(), entry.id
        assert entry.url == github_raw_url(row["repository"], row["commit"], row["path_in_repo"])
    assert manifest.get("un-udhr-1948-zh").url is None
    assert manifest.get("un-sdg-11-1-1-metadata-concepts").url is None
    assert manifest.get("un-habitat-oewg-2024-8-zh").url is None


def test_github_raw_url_percent_encodes_awkward_names() -> None:
    url = github_raw_url("o/r", "c0ffee", "docs/8Financial$2017 (1).pdf")
    assert url == "https://raw.githubusercontent.com/o/r/c0ffee/docs/8Financial%242017%20%281%29.pdf"
    assert github_raw_url("o/r", "c", "法/条例.md") == (
        "https://raw.githubusercontent.com/o/r/c/%E6%B3%95/%E6%9D%A1%E4%BE%8B.md"
    )


def test_vocabularies_are_the_documented_ones() -> None:
    assert "un_habitat_report" in DOCUMENT_TYPES and "programme_guideline" in DOCUMENT_TYPES
    assert len(DOCUMENT_TYPES) == 10
    assert set(REGIONS) == {
        "africa",
        "arab_states",
        "asia_pacific",
        "eastern_europe_central_asia",
        "latin_america_caribbean",
        "western_europe_others",
        "global",
    }


BROKEN = """\
version: 1
documents:
  - id: br-estatuto-da-cidade
    path: brazil/estatuto.md
    sha256: 06badd280099edb69957cd0d67de61eef15bd2080f6779aa23195af0b10c0745
    title: Estatuto da Cidade
    document_type: law
    countries: [BRZ]
    regions: [latin_america]
    language: portuguese
    year: 1066
  - id: ok-doc
    path: a/ok.md
    title: Fine
    document_type: report
    regions: [global]
    country: [FRA]
  - path: a/no-id.md
    title: No id
    document_type: law
    regions: [africa]
  - id: Bad_Id
    title: Nowhere
    document_type: law
    regions: [africa]
    url: https://example.org/x.pdf
    sha256: abc
  - id: ok-doc
    path: a/other.md
    title: Twin
    document_type: law
    regions: [global, africa]
"""


def test_broken_manifest_reports_every_problem_with_id_and_field(tmp_path: Path) -> None:
    path = tmp_path / "corpus_manifest.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    text = str(caught.value)
    expected = [
        "corpus_manifest.yaml: entry 'br-estatuto-da-cidade' field 'countries': 'BRZ' is not an ISO 3166 alpha-3 code",
        "entry 'br-estatuto-da-cidade' field 'regions': 'latin_america' is not one of:",
        "entry 'br-estatuto-da-cidade' field 'language': 'portuguese' is not an ISO 639-1 language code",
        "entry 'br-estatuto-da-cidade' field 'year': 1066 is outside 1800-",
        "entry 'ok-doc' field 'document_type': 'report' is not one of:",
        "entry 'ok-doc' field 'country': unknown field",
        "entry #3 (line 18) field 'id': required field is missing",
        "entry #4 (line 22) field 'id': 'Bad_Id' is not a slug",
        "entry #4 (line 22) field 'sha256': 'abc' is not 64 hexadecimal digits",
        "entry 'ok-doc' field 'regions': 'global' cannot be combined with other regions",
        "id 'ok-doc' is used by 2 entries (lines 12, 28)",
    ]
    for line in expected:
        assert line in text, f"missing {line!r} in:\n{text}"
    assert len(caught.value.problems) == len(expected)


def test_entry_without_path_or_url_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\ndocuments:\n  - {id: lost, title: Lost, document_type: other, regions: [global]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ManifestError, match="m.yaml: entry 'lost' needs a 'path' or a 'url'"):
        load_manifest(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "corpus_manifest.yaml"
    path.write_text("version: 1\ndocuments:\n  - id: a\n    title: [unclosed\n  - id: b\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"corpus_manifest\.yaml: line 5, column \d+: invalid YAML"):
        load_manifest(path)


def test_duplicate_yaml_key_is_an_error_with_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\ndocuments:\n  - id: a\n    id: b\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"m\.yaml: line 4, column 5: invalid YAML: duplicate key 'id'"):
        load_manifest(path)


def test_missing_manifest_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="manifest file not found"):
        load_manifest(tmp_path / "absent.yaml")


def test_path_must_stay_inside_the_corpus_root() -> None:
    with pytest.raises(ValueError, match="relative POSIX path inside the corpus root"):
        ManifestEntry(id="x", path="../etc/passwd", title="x", document_type="other", regions=["global"])


def test_resolve_and_kosovo_and_url_only_entries() -> None:
    entry = ManifestEntry(
        id="xk-housing-law",
        url="https://example.org/files/Law%2001.PDF",
        sha256="A" * 64,
        title="Law on housing",
        document_type="law",
        countries=["XKX"],
        regions=["eastern_europe_central_asia"],
    )
    assert entry.sha256 == "a" * 64
    assert entry.resolve(Path("/corpus")) == Path("/corpus/downloads/xk-housing-law.pdf")


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    data = b"adequate housing " * 100_000  # larger than one read chunk
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path, chunk_size=4096) == hashlib.sha256(data).hexdigest()
