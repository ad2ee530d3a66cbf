"""Reliability run: kills during ingest, reads during writes, and hostile inputs, on real documents.

    python -m housing_kb.evaluation.bench_reliability [--kills 20] [--clients 8] [--markdown]

Three parts, each with its own fresh index in a temporary folder:

1. **kill -9 during ingest.** A full ``housing-kb ingest`` of a small corpus (the UDHR in six
   languages, a case study and a PDF) is timed once from its first document to its end, then run
   ``--kills`` times from an empty index and killed at evenly spaced moments of that span (the stage
   it was in is read from its progress output). After each kill the index must open, every committed document must have all its
   passages in both dense channels and in BM25, and the next ingest must finish with the full corpus.
2. **Reads during writes.** ``housing-kb serve`` runs on the index while ``--clients`` threads search
   (hybrid, and lexical for a word only a document added later holds) and read ``/health``; meanwhile
   that document is added and removed by incremental ingests, and the corpus is rebuilt with
   ``--rebuild``. A request fails when it is not a 200; it is wrong when the lexical search returns a
   passage without the word, or ``/health`` shows a state no committed index had.
3. **Hostile inputs.** Each goes through ``housing-kb ingest`` in its own process, beside a good
   document; reported: the line the user saw, the exit code, and the peak RSS of the process.

Nothing here is a test: it takes 20-30 minutes on 2 cores. ``--markdown`` prints the tables for
docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from housing_kb.config import Settings
from housing_kb.evaluation.http_load import serve
from housing_kb.ingest.manifest import sha256_file

#: The small corpus: (path under the shared corpus, id, document type).
CORPUS_FILES = [
    *(
        (f"rights_udhr_6lang/udhr_{lang}.txt", f"udhr-{lang.split('_')[0]}", "rights_text")
        for lang in ("eng", "fra", "spa", "rus", "arb", "cmn_hans")
    ),
    ("undp_acclabs_case_studies/entrepatios__housing_cooperative.md", "entrepatios", "case_study"),
    ("un_ohchr_escr_report/E_2025_60.en.pdf", "ohchr-escr-2025", "un_habitat_report"),
]
FLAG = "quokkaflagword"
FLAG_NOTE = (
    f"Housing cooperatives in the {FLAG} programme pool their members' savings to buy land; the "
    "cooperative holds the title, so no household can be evicted for one missed payment."
)
STAGES = ("ingesting", "embedding (2nd channel)", "embedding", "lexical index", "word lexicon", "tagging")


def _entry(root: Path, rel: str, doc_id: str, kind: str) -> dict:
    return {
        "id": doc_id,
        "path": rel,
        "sha256": sha256_file(root / rel),
        "title": doc_id,
        "document_type": kind,
        "regions": ["global"],
    }


def make_corpus(shared: Path, root: Path) -> list[dict]:
    entries = []
    for rel, doc_id, kind in CORPUS_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared / rel, root / rel)
        entries.append(_entry(root, rel, doc_id, kind))
    (root / "flag.txt").write_text(FLAG_NOTE, encoding="utf-8")
    return entries


def write_manifest(path: Path, entries: list[dict]) -> Path:
    path.write_text(
        yaml.safe_dump({"version": 1, "documents": entries}, allow_unicode=True), encoding="utf-8"
    )
    return path


def cli_env(index: Path, corpus: Path, manifest: Path) -> dict[str, str]:
    return os.environ | {
        "HOUSING_KB_INDEX": str(index),
        "HOUSING_KB_CORPUS_DIR": str(corpus),
        "HOUSING_KB_MANIFEST": str(manifest),
        # 8 clients on one address: the per-address rate limit would answer them with 429s
        "HOUSING_KB_RATE_LIMIT": "off",
    }


def ingest_cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "housing_kb.api.cli", "ingest", *extra]


# ---------------------------------------------------------------------------------- 1. kills


@dataclass
class KillTrial:
    at_seconds: float
    stage: str
    consistent: bool
    recovered: bool
    problem: str = ""


def check_index(index: Path, expect_all: Sequence[str] | None = None) -> str:
    """ "" when the index is consistent (and, with ``expect_all``, holds exactly those documents), else
    what is wrong. Runs in a child process so nothing is cached from an earlier check."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from housing_kb.index.store.index_store import IndexStore, IndexNotFound\n"
        "from housing_kb.index.lexical.sync import open_lexical\n"
        "try:\n"
        "    s = IndexStore.open(Path(sys.argv[1]), readonly=True)\n"
        "except IndexNotFound:\n"
        "    print(json.dumps({'empty': True})); sys.exit()\n"
        "n = s.passage_count()\n"
        "hashes = [r['content_hash'] for r in s.iter_passages('content_hash')]\n"
        "second = s.secondary_model_id\n"
        "out = {'docs': sorted(s.document_ids()), 'passages': n, 'e5': s.faiss_index().count(),\n"
        "       'use': len(s.embeddings.cached(hashes, model_id=second)) if second else None}\n"
        "lex = open_lexical(s)\n"
        "out['bm25'] = None if lex is None else len(lex)\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(index)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        return f"index does not open: {done.stderr.strip().splitlines()[-1:]}"
    state = json.loads(done.stdout)
    if state.get("empty"):
        return "" if expect_all is None else "no index"
    problems = []
    if state["e5"] != state["passages"]:
        problems.append(f"e5 FAISS {state['e5']} of {state['passages']}")
    if state["use"] is not None and state["use"] != state["passages"]:
        problems.append(f"USE vectors {state['use']} of {state['passages']}")
    if expect_all is not None:
        if state["bm25"] not in (None, state["passages"]):
            problems.append(f"BM25 {state['bm25']} of {state['passages']}")
        if state["docs"] != sorted(expect_all):
            problems.append(f"documents {len(state['docs'])} of {len(expect_all)}")
    return "; ".join(problems)


def _stage_of(output: str) -> str:
    """The stage of the last progress line, e.g. "embedding" or "BM25"."""
    for line in reversed(output.replace("\r", "\n").strip().splitlines()):
        for stage in STAGES:
            if line.startswith(stage) or f" {stage}" in line[:40]:
                return stage
    return "starting"


def _run_until(cmd: list[str], env: dict[str, str], marker: str, err: Any) -> tuple[subprocess.Popen, float]:
    """Start ``cmd`` with stderr to the file ``err``; return it and the moment ``marker`` first appears."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    while proc.poll() is None:
        err.seek(0)
        if marker in err.read().decode("utf-8", "replace"):
            return proc, time.perf_counter()
        time.sleep(0.05)
    return proc, time.perf_counter()


def run_kills(work: Path, shared: Path, kills: int) -> tuple[float, list[KillTrial]]:
    """Kill at evenly spaced moments of the ingest proper: from its first document (once the models
    are loaded) to its end, as a timing run measured it."""
    corpus = work / "corpus"
    entries = make_corpus(shared, corpus)[: len(CORPUS_FILES)]
    manifest = write_manifest(work / "manifest.yaml", entries)
    ids = [e["id"] for e in entries]
    index = work / "kill-index"
    env = cli_env(index, corpus, manifest)
    with tempfile.TemporaryFile() as err:
        proc, began = _run_until(ingest_cmd(), env, "ingesting", err)
        proc.wait()
    total = time.perf_counter() - began
    trials = []
    for n in range(kills):
        shutil.rmtree(index, ignore_errors=True)
        at = total * (n + 0.5) / kills
        with tempfile.TemporaryFile() as err:
            proc, began = _run_until(ingest_cmd(), env, "ingesting", err)
            time.sleep(max(0.0, at - (time.perf_counter() - began)))
            finished = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            err.seek(0)
            stage = "finished" if finished else _stage_of(err.read().decode("utf-8", "replace"))
        problem = check_index(index)
        again = subprocess.run(
            ingest_cmd("--no-progress"), env=env, capture_output=True, text=True, check=False
        )
        after = check_index(index, ids) if again.returncode == 0 else f"re-ingest exited {again.returncode}"
        trials.append(KillTrial(at, stage, not problem, not after, problem or after))
        print(
            f"  kill {n + 1}/{kills} at {at:.1f} s ({stage}): {problem or 'consistent'}; {after or 'recovered'}",
            flush=True,
        )
    return total, trials


# ---------------------------------------------------------------------------------- 2. reads during writes


@dataclass
class ReadLoad:
    requests: int = 0
    failed: int = 0
    wrong: int = 0
    examples: list[str] = field(default_factory=list)


def run_reads(work: Path, shared: Path, clients: int) -> tuple[ReadLoad, list[str]]:
    corpus = work / "corpus"
    entries = make_corpus(shared, corpus) if not corpus.exists() else None
    entries = entries or [_entry(corpus, rel, doc_id, kind) for rel, doc_id, kind in CORPUS_FILES]
    flag = _entry(corpus, "flag.txt", "flag-note", "research")
    manifest = write_manifest(work / "reads-manifest.yaml", entries)
    index = work / "read-index"
    env = cli_env(index, corpus, manifest)
    subprocess.run(ingest_cmd("--no-progress"), env=env, capture_output=True, check=True)
    load = ReadLoad()
    states: Counter[tuple[int, int]] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    writes: list[str] = []
    with serve(index) as server:

        def reader() -> None:
            with httpx.Client(base_url=server.base_url, timeout=60) as client:
                while not stop.is_set():
                    for params in (
                        {"q": FLAG, "mode": "lexical", "k": 5},
                        {"q": "right to housing", "k": 10},
                    ):
                        try:
                            r = client.get("/v1/search", params=params)
                        except httpx.HTTPError as exc:
                            ok, body = False, str(exc)
                        else:
                            ok, body = r.status_code == 200, r.text
                        with lock:
                            load.requests += 1
                            if not ok:
                                load.failed += 1
                                load.examples.append(body[:120])
                            elif params["q"] == FLAG:
                                hits = json.loads(body)["hits"]
                                if any(FLAG not in h["text"] for h in hits):
                                    load.wrong += 1
                                    load.examples.append(f"{FLAG} -> {[h['passage_id'] for h in hits]}")
                    h = client.get("/v1/health")
                    with lock:
                        load.requests += 1
                        if h.status_code != 200:
                            load.failed += 1
                        else:
                            body = h.json()
                            states[(body["documents"], body["passages"])] += 1

        threads = [threading.Thread(target=reader) for _ in range(clients)]
        for t in threads:
            t.start()
        committed = {_committed_state(index)}
        for step in range(3):
            for with_flag in (True, False):
                write_manifest(manifest, entries + ([flag] if with_flag else []))
                subprocess.run(ingest_cmd("--no-progress"), env=env, capture_output=True, check=True)
                committed.add(_committed_state(index))
                writes.append(f"incremental ingest {'adding' if with_flag else 'removing'} the flag document")
            if step == 1:
                write_manifest(manifest, [*entries, flag])
                subprocess.run(
                    ingest_cmd("--no-progress", "--rebuild"), env=env, capture_output=True, check=True
                )
                committed.add(_committed_state(index))
                writes.append("--rebuild with the flag document")
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(60)
    unseen = {s: n for s, n in states.items() if s not in committed}
    if unseen:
        load.wrong += sum(unseen.values())
        load.examples.append(f"/health states no index had: {sorted(unseen)}")
    return load, writes


def _committed_state(index: Path) -> tuple[int, int]:
    code = (
        "import sys; from pathlib import Path; from housing_kb.index.store.index_store import IndexStore\n"
        "s = IndexStore.open(Path(sys.argv[1]), readonly=True)\n"
        "print(len(s.document_ids()), s.passage_count())\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(index)], capture_output=True, text=True, check=True)
    docs, passages = out.stdout.split()
    return int(docs), int(passages)


# ---------------------------------------------------------------------------------- 3. hostile inputs


@dataclass
class HostileCase:
    name: str
    message: str
    exit_code: int
    peak_rss_mb: float
    seconds: float


def _alias_bomb() -> str:
    lines = ['version: 1\nx0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    for level in range(1, 9):
        lines.append(f"x{level}: &x{level} [" + ", ".join([f"*x{level - 1}"] * 9) + "]\n")
    lines.append("documents:\n  - {id: a, path: a.txt, title: T, document_type: *x8, regions: [global]}\n")
    return "".join(lines)


def _zip_with(path: Path, template: Path, extra: dict[str, int]) -> None:
    """A copy of the DOCX ``template`` plus members of zeros of the given sizes, streamed in."""
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        chunk = b"\0" * (1 << 20)
        for name, size in extra.items():
            with dst.open(name, "w", force_zip64=True) as member:
                for _ in range(size >> 20):
                    member.write(chunk)


def _paragraph_bomb(path: Path, template: Path, megabytes: int) -> None:
    """A DOCX whose document.xml is ``megabytes`` of valid, repeated paragraphs."""
    paragraph = b"<w:p><w:r><w:t>" + b"Adequate housing for all. " * 20 + b"</w:t></w:r></w:p>"
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != "word/document.xml":
                dst.writestr(item, src.read(item.filename))
        head = (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w='
            b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        )
        with dst.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(head)
            block = paragraph * ((1 << 20) // len(paragraph))
            for _ in range(megabytes):
                member.write(block)
            member.write(b"</w:body></w:document>")


def hostile_cases(work: Path, shared: Path) -> list[tuple[str, Path, list[dict], str]]:
    """(name, corpus root, manifest entries or a raw manifest, ...) for each hostile input."""
    root = work / "hostile"
    root.mkdir()
    shutil.copy(shared / "rights_udhr_6lang/udhr_eng.txt", root / "good.txt")
    good = _entry(root, "good.txt", "good", "rights_text")
    docx = shared / "russia_housing_code" / "Жилищный кодекс Российской Федерации.docx"
    (root / "passwd.txt").symlink_to("/etc/passwd")
    (root / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(root / "fifo.txt")
    _zip_with(root / "image-bomb.docx", docx, {"word/media/image1.png": 1536 << 20})
    _paragraph_bomb(root / "paragraph-bomb.docx", docx, 1024)
    with (root / "huge.txt").open("w", encoding="utf-8") as fh:
        line = "The right to adequate housing includes security of tenure. " * 16 + "\n"
        for _ in range((100 << 20) // len(line)):
            fh.write(line)
    (root / "mojibake.txt").write_bytes(bytes((i * 37 + 11) % 255 + 1 for i in range(50_000)))
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.add_page(PdfReader(shared / "un_ohchr_escr_report" / "E_2025_60.en.pdf").pages[2])
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    writer.write(root / "aes.pdf")

    def doc(name: str, kind: str = "other") -> dict:
        return {
            "id": name.split(".")[0],
            "path": name,
            "title": name,
            "document_type": kind,
            "regions": ["global"],
        }

    cases = [
        (
            name,
            root,
            [good, doc(name)],
            "",
        )
        for name in (
            "passwd.txt",
            "zero.txt",
            "fifo.txt",
            "image-bomb.docx",
            "paragraph-bomb.docx",
            "huge.txt",
            "mojibake.txt",
            "aes.pdf",
        )
    ]
    cases.append(("alias bomb in document_type", root, [], _alias_bomb()))
    return cases


_PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print('peak-rss-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run_hostile(work: Path, shared: Path) -> list[HostileCase]:
    out = []
    for name, root, entries, raw in hostile_cases(work, shared):
        manifest = work / "hostile.yaml"
        if raw:
            manifest.write_text(raw, encoding="utf-8")
        else:
            write_manifest(manifest, entries)
        index = work / "hostile-index"
        shutil.rmtree(index, ignore_errors=True)
        env = cli_env(index, root, manifest)
        started = time.perf_counter()
        try:
            # a fresh parent process per case, so its children's peak RSS is this ingest's alone
            done = subprocess.run(
                [sys.executable, "-c", _PEAK_RSS, *ingest_cmd("--no-progress")],
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            code, text = done.returncode, done.stdout + done.stderr
            peak_kb = float(re.findall(r"peak-rss-kb (\d+)", text)[-1])
        except subprocess.TimeoutExpired:
            code, text, peak_kb = -1, "timed out after 900 s", float("nan")
        lines = [line.strip() for line in text.splitlines() if "FAILED" in line or line.startswith("error:")]
        message = lines[0] if lines else ("ingested" if code == 0 else text.strip().splitlines()[-1:])
        out.append(HostileCase(name, str(message)[:200], code, peak_kb / 1024, time.perf_counter() - started))
        print(f"  {name}: exit {code}, {out[-1].message}", flush=True)
    return out


# ---------------------------------------------------------------------------------- report


def report(
    total: float, kills: list[KillTrial], load: ReadLoad, writes: list[str], hostile: list[HostileCase]
) -> str:
    stages = Counter(t.stage for t in kills)
    lines = [
        f"## Kills during ingest ({len(kills)} kill -9 over a {total:.0f} s ingest of {len(CORPUS_FILES)} documents)",
        "",
        "| measure | result |",
        "|---|---|",
        f"| index consistent right after the kill (every committed document in both dense channels) | "
        f"{sum(t.consistent for t in kills)}/{len(kills)} |",
        f"| next ingest completes the corpus, all channels complete | {sum(t.recovered for t in kills)}/{len(kills)} |",
        f"| stages hit | {', '.join(f'{s} {n}' for s, n in stages.most_common())} |",
    ]
    bad = [t for t in kills if t.problem]
    lines += [f"| problem at {t.at_seconds:.1f} s ({t.stage}) | {t.problem} |" for t in bad]
    lines += [
        "",
        f"## Reads during writes ({len(writes)} writes: {', '.join(sorted(set(writes)))})",
        "",
        "| requests | failed (not 200) | wrong (a passage without the word, or a state no index had) |",
        "|---:|---:|---:|",
        f"| {load.requests} | {load.failed} | {load.wrong} |",
    ]
    if load.examples:
        lines.append("")
        lines += [f"- {e}" for e in load.examples[:5]]
    lines += [
        "",
        "## Hostile inputs (each beside a good document, through `housing-kb ingest`)",
        "",
        "| input | exit | peak RSS MB | seconds | what the user saw |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {h.name} | {h.exit_code} | {h.peak_rss_mb:.0f} | {h.seconds:.1f} | {h.message.replace('|', '/')} |"
        for h in hostile
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--skip", action="append", default=[], choices=["kills", "reads", "hostile"])
    ap.add_argument(
        "--markdown", action="store_true", help="Print the tables as Markdown (docs/reliability.md)."
    )
    args = ap.parse_args(argv)
    shared = Settings.from_env().corpus_dir
    if not (shared / "rights_udhr_6lang").is_dir():
        print(f"bench_reliability: the shared corpus is not at {shared}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hkb-reliability-"))
    try:
        total, kills = (0.0, [])
        if "kills" not in args.skip:
            print("1/3 kill -9 during ingest", flush=True)
            total, kills = run_kills(work, shared, args.kills)
        load, writes = ReadLoad(), []
        if "reads" not in args.skip:
            print("2/3 reads during writes", flush=True)
            load, writes = run_reads(work, shared, args.clients)
        hostile = []
        if "hostile" not in args.skip:
            print("3/3 hostile inputs", flush=True)
            hostile = run_hostile(work, shared)
        print(report(total, kills, load, writes, hostile))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
