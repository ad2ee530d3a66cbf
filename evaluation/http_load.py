"""The served-process harness of the HTTP benches: a real ``housing-kb serve`` on loopback and a
bounded load of concurrent clients against it.

:func:`serve` starts ``housing-kb serve`` on 127.0.0.1 at a free port in a subprocess and waits for
``/health``, with its cache of word translations (``HOUSING_KB_TRANSLATION_CACHE=0``) and its
per-address rate limit off unless the environment sets them. :func:`run_load` then sends
``GET /search`` requests from ``clients`` threads (one httpx client each) until ``requests`` have been
answered; latency is measured by the client around each request. :func:`rss_bytes` reads the server's
RSS (and peak RSS).
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class BenchError(Exception):
    """The bench cannot run (no index, server failed to start); the message says why."""


# ---------------------------------------------------------------------------------- server


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of a process, from /proc (psutil when /proc is absent)."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        kb = lambda key: int(fields.get(key, "0 kB").split()[0])  # noqa: E731
        return kb("VmRSS") * 1024, kb("VmHWM") * 1024
    import psutil

    rss = psutil.Process(pid).memory_info().rss
    return rss, rss


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    startup_seconds: float


@contextmanager
def serve(index_dir: Path, *, threads: int | None = None, startup_timeout: float = 600.0) -> Iterator[Server]:
    """Run ``housing-kb serve --index DIR --port P`` on loopback until the block ends.

    ``threads`` sets OMP_NUM_THREADS for the server (torch and FAISS); ``None`` inherits the environment.
    """
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="hkb-serve-", suffix=".log")[1])
    cmd = [
        sys.executable,
        "-c",
        "from housing_kb.api.cli import main; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--index",
        str(index_dir),
    ]
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        env = dict(os.environ)
        # Every request pays for translating its words (index/lexical/translation.py): the dev questions'
        # words repeat across requests, and a warm per-word cache would hide that cost.
        env.setdefault("HOUSING_KB_TRANSLATION_CACHE", "0")
        # the load comes from one address: the per-address rate limit would answer it with 429s
        env.setdefault("HOUSING_KB_RATE_LIMIT", "off")
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base, log_path, startup_timeout)
        yield Server(proc, base, log_path, time.perf_counter() - started)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, log_path: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise BenchError(f"server exited with code {proc.returncode}: {' | '.join(tail)}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise BenchError(f"server at {base} not healthy after {timeout:.0f} s (log: {log_path})")


# ---------------------------------------------------------------------------------- load


@dataclass
class Scenario:
    mode: str
    filtered: bool
    unique: bool

    @property
    def label(self) -> str:
        return f"{self.mode:<7} {'filter' if self.filtered else 'none':<6} {'unique' if self.unique else 'repeated'}"


@dataclass
class LoadResult:
    scenario: Scenario
    latencies_ms: list[float]
    errors: int
    wall_seconds: float
    hits: int = 0

    @property
    def qps(self) -> float:
        return len(self.latencies_ms) / self.wall_seconds if self.wall_seconds else 0.0


def run_load(
    base_url: str,
    queries: Sequence[str],
    scenario: Scenario,
    filter_params: dict[str, str],
    *,
    clients: int,
    requests: int,
    offset: int = 0,
) -> LoadResult:
    """Send ``requests`` GET /search requests from ``clients`` threads; a bounded loop, loopback only.

    ``offset`` numbers the unique-query suffixes so no scenario reuses another's queries.
    """
    import httpx

    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    hits = [0]

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=60.0) as client:
            while True:
                with lock:
                    i = next(counter)
                if i >= requests:
                    return
                q = queries[i % len(queries)]
                if scenario.unique:
                    q = f"{q} ({offset + i})"
                params = {"q": q, "mode": scenario.mode, **(filter_params if scenario.filtered else {})}
                t0 = time.perf_counter()
                try:
                    response = client.get("/v1/search", params=params)
                    ok = response.status_code == 200
                    n = len(response.json().get("hits", [])) if ok else 0
                except httpx.HTTPError:
                    ok, n = False, 0
                elapsed = 1000 * (time.perf_counter() - t0)
                with lock:
                    if ok:
                        latencies.append(elapsed)
                        hits[0] += n
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(scenario, latencies, errors[0], time.perf_counter() - started, hits[0])


__all__ = ["BenchError", "LoadResult", "Scenario", "Server", "free_port", "rss_bytes", "run_load", "serve"]
