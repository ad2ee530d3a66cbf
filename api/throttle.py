"""A bounded pool for expensive requests (briefs), so they cannot starve search and health.

Forty concurrent PDF briefs once stalled ``/health`` for 45 s and took the server from 2.9 to 5 GB:
each held a request thread, its own brief and a WeasyPrint layout. A :class:`WorkGate` lets
``slots`` of them run at once and ``queue`` more wait; past that a request is refused at once with
503 and ``Retry-After``, and the rest of the API keeps its threads and memory.

>>> gate = WorkGate(slots=1, queue=0)
>>> with gate.enter():
...     gate.busy()
True
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Busy(Exception):
    """Every slot and queue place is taken; try again after ``retry_after`` seconds."""

    def __init__(self, what: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many {what} requests at once; try again in {retry_after} s")


class WorkGate:
    def __init__(self, *, slots: int, queue: int, what: str = "expensive", retry_after: int = 10) -> None:
        self.slots = max(1, slots)
        self.queue = max(0, queue)
        self.what = what
        self.retry_after = retry_after
        self._admitted = 0
        self._lock = threading.Lock()
        self._running = threading.Semaphore(self.slots)

    def busy(self) -> bool:
        """Whether a request arriving now would be refused."""
        with self._lock:
            return self._admitted >= self.slots + self.queue

    @contextmanager
    def enter(self) -> Iterator[None]:
        """Run the block in a slot, waiting in the queue for one; :class:`Busy` when the queue is full."""
        with self._lock:
            if self._admitted >= self.slots + self.queue:
                raise Busy(self.what, self.retry_after)
            self._admitted += 1
        try:
            with self._running:
                yield
        finally:
            with self._lock:
                self._admitted -= 1
