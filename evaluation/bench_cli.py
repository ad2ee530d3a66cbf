"""CLI benchmark: what one ``housing-kb`` command costs a user at a terminal, cold, as a new process.

For each command: wall-clock seconds (median of ``--runs`` runs, and the slowest) and the peak RSS of
the process (``ru_maxrss`` of the finished child). Then:

- whether ``search --json`` prints the same hits as the server answering the same query (its
  ``/search``), for every query of ``--queries``;
- the same commands with ``--server``, against a server this benchmark starts on the same index;
- an unchanged re-ingest, and with ``--full-ingest`` a full ingest of the manifest into a temporary
  index (7-9 minutes on 2 cores) to give the re-ingest as a share of it.

    python -m housing_kb.evaluation.bench_cli [--runs 3] [--full-ingest] [--json OUT]

The index is ``HOUSING_KB_INDEX`` (default ``data/index``), built by ``make ingest``. Timing lives here,
never in a test: on a shared machine one run says little, so the table gives the median and the worst.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from housing_kb.config import Settings

QUERIES = [
    "security of tenure for informal settlements",
    "¿cómo se financia la vivienda social?",
    "право на жилище и выселение",
    "住房保障",
]
#: The console script users run (beside this interpreter in the virtual environment).
CLI = [str(Path(sys.executable).with_name("housing-kb"))]


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one command in a fresh process; the rusage of that one
    child (``wait4``), not the largest child so far."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        printed, errors = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(args)}\n{errors[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0, printed


def _measure(name: str, args: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    walls, peaks = [], []
    for _ in range(runs):
        wall, rss, _ = _run(args, env)
        walls.append(wall)
        peaks.append(rss)
    row = {
        "command": name,
        "wall_s_median": round(statistics.median(walls), 2),
        "wall_s_max": round(max(walls), 2),
        "rss_mib": round(max(peaks)),
        "runs": runs,
    }
    print(f"{name:<44} {row['wall_s_median']:6.2f} s (max {row['wall_s_max']:.2f})  {row['rss_mib']:5d} MiB")
    return row


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not come up within 300 s")


def _same_hits(env: dict[str, str], url: str) -> list[dict[str, Any]]:
    """For each query: the CLI's hits (passage ids, in order) against the server's /search."""
    out = []
    for query in QUERIES:
        _, _, printed = _run([*CLI, "search", query, "-k", "10", "--json"], env)
        cli = [h["passage_id"] for h in json.loads(printed)["hits"]]
        served = httpx.get(
            url + "/v1/search", params={"q": query, "k": 10, "highlight": False}, timeout=60
        ).json()
        server = [h["passage_id"] for h in served["hits"]]
        out.append({"query": query, "identical": cli == server, "cli": cli, "server": server})
        print(f"  {'identical' if cli == server else 'DIFFERENT'}: {query}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="Runs per command (median and max are reported).")
    ap.add_argument("--full-ingest", action="store_true", help="Also time a full ingest into a temp index.")
    ap.add_argument("--json", type=Path, help="Write the figures as JSON here too.")
    ap.add_argument(
        "--cli",
        type=Path,
        help="Another housing-kb executable to time, e.g. an older checkout's (the 'before' figures); "
        "only the local commands are timed then.",
    )
    args = ap.parse_args(argv)
    global CLI
    if args.cli:
        CLI = [str(args.cli)]

    settings = Settings.from_env()
    env = dict(os.environ, HOUSING_KB_INDEX=str(settings.index_dir))
    env.pop("HOUSING_KB_SERVER", None)
    print(
        f"CLI benchmark: index {settings.index_dir}, query engine {settings.query_engine}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; {args.runs} cold runs per command"
    )
    rows = []
    topic = "slum upgrading"
    outdir = Path(tempfile.mkdtemp(prefix="hkb-bench-cli-"))
    commands = {
        "search (local index)": [*CLI, "search", QUERIES[0], "-k", "10"],
        "ask (local index)": [*CLI, "ask", "Which countries protect tenants from forced eviction?"],
        "brief --format md (local index)": [
            *CLI,
            "brief",
            topic,
            "--format",
            "md",
            "-o",
            str(outdir / "b.md"),
        ],
        "ingest, nothing changed": [*CLI, "ingest", "--no-progress"],
    }
    for name, command in commands.items():
        rows.append(_measure(name, command, env, args.runs))
    if args.cli:
        _write(args.json, {"rows": rows, "cli": str(args.cli), "cores": os.cpu_count()})
        return 0

    server, url = _start_server(env)
    try:
        print(f"server at {url}; search --json against its /search:")
        identity = _same_hits(env, url)
        remote = dict(env, HOUSING_KB_SERVER=url)
        for name in ("search", "ask", "brief --format md"):
            local = next(c for n, c in commands.items() if n.startswith(name + " "))
            rows.append(_measure(f"{name} (--server)", local, remote, args.runs))
    finally:
        server.terminate()
        server.wait(timeout=30)

    full = None
    if args.full_ingest:
        tmp_index = Path(tempfile.mkdtemp(prefix="hkb-bench-full-")) / "index"
        full_env = dict(env, HOUSING_KB_INDEX=str(tmp_index))
        print("full ingest into a temporary index (minutes)…")
        full, _, _ = _run([*CLI, "ingest", "--no-progress"], full_env)
        print(f"{'ingest, full corpus':<44} {full:6.2f} s")
        rows.append({"command": "ingest, full corpus", "wall_s_median": round(full, 1), "runs": 1})
        shutil.rmtree(tmp_index.parent, ignore_errors=True)
        unchanged = next(r for r in rows if r["command"] == "ingest, nothing changed")["wall_s_median"]
        print(f"unchanged re-ingest / full ingest: {unchanged / full:.1%}")
    shutil.rmtree(outdir, ignore_errors=True)

    identical = sum(i["identical"] for i in identity)
    print(f"search --json hits identical to the server's: {identical} of {len(identity)} queries")
    _write(
        args.json,
        {
            "rows": rows,
            "identity": identity,
            "full_ingest_s": full,
            "query_engine": settings.query_engine,
            "cores": os.cpu_count(),
        },
    )
    return 0


def _write(path: Path | None, figures: dict[str, Any]) -> None:
    if path:
        path.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
