"""The write path under load: concurrent searches while documents are submitted, processed, published
and deleted through the API, on a copy of the index, by a real ``housing-kb serve`` with its worker.

    python -m housing_kb.evaluation.bench_write_path --clients 8 --documents 10 --markdown

It reports the searches made and those that failed (anything but 200), their p50 and p95 before the
first submission and while the documents go through, and for each document the seconds from its job
reaching "published" to the first search that finds it. The documents are real Markdown files of the
corpus with one line appended (a marker word), so each is a new file with a word no other has.

With ``--reindex``, an admin then rebuilds the whole collection over the API (``POST
/v1/admin/reindex``) while the searches go on, and the searches of that window are reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from housing_kb.api.keys import KeyStore
from housing_kb.config import Settings
from housing_kb.evaluation.http_load import serve
from housing_kb.ingest.manifest import load_manifest


@dataclass
class Searches:
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: (start time, seconds, status or 0 for a transport error)
    done: list[tuple[float, float, int]] = field(default_factory=list)

    def add(self, started: float, seconds: float, status: int) -> None:
        with self.lock:
            self.done.append((started, seconds, status))


#: A published document no search finds within this is a failure of the write path, not a slow run.
FIRST_HIT_LIMIT_S = 120


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _searcher(base: str, queries: list[str], stop: threading.Event, out: Searches, offset: int) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        i = offset
        while not stop.is_set():
            started = time.perf_counter()
            try:
                status = client.get(
                    "/v1/search", params={"q": queries[i % len(queries)], "k": 10}
                ).status_code
            except httpx.HTTPError:
                status = 0
            out.add(started, time.perf_counter() - started, status)
            i += 1


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _wait(client: httpx.Client, job_id: str, states: tuple[str, ...], timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in states:
            return job
        time.sleep(0.1)
    raise RuntimeError(f"job {job_id} stuck at {job['status']}")


def _documents(settings: Settings, count: int, work: Path) -> list[tuple[Path, str, dict]]:
    """``count`` corpus Markdown files, each copied with a marker line; (file, marker, metadata)."""
    manifest = load_manifest(settings.manifest_path, strict=False)
    chosen = [e for e in manifest.documents if e.relative_path.endswith(".md")][:count]
    out = []
    for n, entry in enumerate(chosen):
        marker = f"loadrunmarker{n}q"
        target = work / f"contribution-{n}.md"
        text = (settings.corpus_dir / entry.relative_path).read_text(encoding="utf-8")
        target.write_text(text + f"\n\nContributed copy for the load run: {marker}.\n", encoding="utf-8")
        metadata = {
            "title": f"{entry.title} (load-run copy {n})",
            "document_type": entry.document_type.value,
            "countries": entry.countries,
            "regions": [r.value for r in entry.regions],
        }
        out.append((target, marker, metadata))
    return out


def run(clients: int, documents: int, baseline_s: float, reindex: bool = False) -> dict:
    settings = Settings.from_env()
    questions = settings.corpus_dir.parent / "eval" / "questions_dev.jsonl"  # beside the shared corpus
    queries = [
        json.loads(line)["query"] for line in questions.read_text(encoding="utf-8").splitlines() if line
    ]
    work = Path(tempfile.mkdtemp(prefix="hkb-write-path-"))
    index = work / "data" / "index"
    shutil.copytree(settings.index_dir.resolve(), index)
    keys = KeyStore(work / "data" / "platform.sqlite")
    contributor = {
        "Authorization": "Bearer " + keys.create(role="contributor", name="load", by="bench").secret
    }
    editor = {"Authorization": "Bearer " + keys.create(role="editor", name="load", by="bench").secret}
    admin = {"Authorization": "Bearer " + keys.create(role="admin", name="load", by="bench").secret}
    files = _documents(settings, documents, work)
    searches = Searches()
    stop = threading.Event()
    first_hit: list[float] = []
    steps: list[dict] = []
    os.environ["HOUSING_KB_RATE_LIMIT"] = "off"
    try:
        with serve(index) as server, httpx.Client(base_url=server.base_url, timeout=120) as client:
            threads = [
                threading.Thread(target=_searcher, args=(server.base_url, queries, stop, searches, i * 7))
                for i in range(clients)
            ]
            for t in threads:
                t.start()
            time.sleep(baseline_s)
            writes_began = time.perf_counter()
            for n, (path, marker, metadata) in enumerate(files, 1):
                _progress(f"document {n}/{len(files)}: submitting {path.name}")
                t0 = time.perf_counter()
                made = client.post(
                    "/v1/documents",
                    headers=contributor,
                    files={"file": (path.name, path.read_bytes(), "text/markdown")},
                    data={
                        "metadata": json.dumps(metadata),
                        "contact": json.dumps({"name": "Load run", "email": "load@example.org"}),
                    },
                )
                made.raise_for_status()
                job_id, doc_id = made.json()["job_id"], made.json()["document_id"]
                _wait(client, job_id, ("review", "failed"))
                t1 = time.perf_counter()
                _progress(f"document {n}/{len(files)}: in review after {t1 - t0:.1f} s; publishing")
                client.post(f"/v1/documents/{doc_id}/publish", headers=editor).raise_for_status()
                job = _wait(client, job_id, ("published", "failed"))
                if job["status"] != "published":
                    raise RuntimeError(f"{doc_id}: {job['reason']}")
                published_at = time.perf_counter()
                while True:
                    if time.perf_counter() - published_at > FIRST_HIT_LIMIT_S:
                        raise RuntimeError(
                            f"{doc_id}: published, but a search for {marker!r} has not found it in"
                            f" {FIRST_HIT_LIMIT_S} s"
                        )
                    hits = client.get("/v1/search", params={"q": marker, "k": 5, "mode": "lexical"}).json()[
                        "hits"
                    ]
                    if any(h["document"]["id"] == doc_id for h in hits):
                        first_hit.append(time.perf_counter() - published_at)
                        break
                    time.sleep(0.05)
                t2 = time.perf_counter()
                _progress(
                    f"document {n}/{len(files)}: found {first_hit[-1]:.2f} s after publishing; deleting"
                )
                deleting = client.delete(f"/v1/documents/{doc_id}", headers=editor)
                deleting.raise_for_status()
                _wait(client, deleting.json()["job_id"], ("deleted", "failed"))
                steps.append(
                    {
                        "review_s": t1 - t0,
                        "publish_s": published_at - t1,
                        "delete_s": time.perf_counter() - t2,
                    }
                )
            writes_ended = reindex_ended = time.perf_counter()
            reindex_job = None
            if reindex:
                _progress("rebuilding the collection (POST /v1/admin/reindex)")
                made = client.post("/v1/admin/reindex", json={"mode": "rebuild"}, headers=admin)
                made.raise_for_status()
                reindex_job = _wait(client, made.json()["job_id"], ("reindexed", "failed"), timeout=3600)
                reindex_ended = time.perf_counter()
                _progress(f"rebuilt in {reindex_ended - writes_ended:.0f} s: {reindex_job['reason']}")
            stop.set()
            for t in threads:
                t.join()
    finally:
        stop.set()
        shutil.rmtree(work, ignore_errors=True)
    before = [s for started, s, _ in searches.done if started < writes_began]
    during = [s for started, s, _ in searches.done if writes_began <= started < writes_ended]
    rebuilding = [r for r in searches.done if writes_ended <= r[0] < reindex_ended]
    return {
        "clients": clients,
        "documents": len(files),
        "requests": len(searches.done),
        "failures": sum(status != 200 for _, _, status in searches.done),
        "baseline_s": baseline_s,
        "writes_s": writes_ended - writes_began,
        "before_p50_ms": 1000 * _percentile(before, 50),
        "before_p95_ms": 1000 * _percentile(before, 95),
        "during_p50_ms": 1000 * _percentile(during, 50),
        "during_p95_ms": 1000 * _percentile(during, 95),
        "publish_to_first_hit_s": first_hit,
        "steps": steps,
        "reindex": None
        if reindex_job is None
        else {
            "status": reindex_job["status"],
            "summary": reindex_job["reason"],
            "seconds": reindex_ended - writes_ended,
            "requests": len(rebuilding),
            "failures": sum(status != 200 for _, _, status in rebuilding),
            "p50_ms": 1000 * _percentile([s for _, s, _ in rebuilding], 50),
            "p95_ms": 1000 * _percentile([s for _, s, _ in rebuilding], 95),
        },
    }


def markdown(r: dict) -> str:
    hit = r["publish_to_first_hit_s"]
    step = {k: statistics.median(s[k] for s in r["steps"]) for k in ("review_s", "publish_s", "delete_s")}
    return "\n".join(
        [
            f"{r['clients']} search clients; {r['documents']} documents submitted, reviewed, published and deleted"
            f" one after another ({r['writes_s']:.0f} s) after {r['baseline_s']:.0f} s of searches alone.",
            "",
            "| searches | failures | p50 before | p95 before | p50 during | p95 during |",
            "|---|---|---|---|---|---|",
            f"| {r['requests']} | {r['failures']} | {r['before_p50_ms']:.0f} ms | {r['before_p95_ms']:.0f} ms"
            f" | {r['during_p50_ms']:.0f} ms | {r['during_p95_ms']:.0f} ms |",
            "",
            f"Published to first hit: median {statistics.median(hit):.2f} s, max {max(hit):.2f} s."
            f" Per document (median): submission to review {step['review_s']:.1f} s, publishing"
            f" {step['publish_s']:.1f} s, deletion {step['delete_s']:.1f} s.",
            *_reindex_lines(r["reindex"]),
        ]
    )


def _reindex_lines(x: dict | None) -> list[str]:
    if x is None:
        return []
    return [
        "",
        f"Then a rebuild of the collection over the API, {x['status']} in {x['seconds']:.0f} s ({x['summary']}),"
        f" while the clients searched: {x['requests']} searches, {x['failures']} failed, p50 {x['p50_ms']:.0f} ms,"
        f" p95 {x['p95_ms']:.0f} ms.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument(
        "--baseline", type=float, default=30.0, help="seconds of searches before the first write"
    )
    parser.add_argument("--reindex", action="store_true", help="then rebuild the collection over the API")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    result = run(args.clients, args.documents, args.baseline, args.reindex)
    print(markdown(result) if args.markdown else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
