"""The contribution worker: takes jobs from the queue in ``platform.sqlite`` and carries them out.

- A new submission is extracted, chunked, tagged and embedded into a staging index of its own
  (``<data>/staging/<document_id>/index``), which an editor reviews. Nothing of it is in the live
  index, so an unpublished document is invisible to every search, facet, suggestion and brief.
- Publishing ingests it into the live index with the staging index's vectors (nothing is embedded
  twice), in the ingest's own per-document commit: a search sees all of it or none of it.
- Unpublishing and deleting take it out of the live index in one commit.
- An admin's re-index ingests the whole collection (the corpus manifest and the published
  contributions): "update" re-processes what changed; "rebuild" builds a fresh index beside the live
  one from the cached vectors and swaps it in when done, so searches go on meanwhile.

It runs in the server (a thread, started unless ``HOUSING_KB_WORKER=off``) or as ``housing-kb worker``.
A worker killed mid-job leaves a claim whose process is gone: the next worker takes the job up again
from the start of its step. Each step is idempotent: a staging index is rebuilt from scratch, and
ingesting a document the live index already holds is a no-op.

>>> worker = Worker(Settings.from_env())   # doctest: +SKIP
>>> worker.run_until(threading.Event())    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from housing_kb.api.contributions import (
    STALE_AFTER_S,
    Contribution,
    ContributionStore,
    Job,
    collection_manifest,
    worker_name,
)
from housing_kb.config import Settings
from housing_kb.index.store.index_store import IndexStore
from housing_kb.index.store.lock import IndexLocked
from housing_kb.ingest.manifest import Manifest, ManifestEntry, clip
from housing_kb.ingest.pipeline import IngestReport, remove_documents, run_ingest
from housing_kb.ingest.search_backend import catch_up_search_backend
from housing_kb.models.base import Embedder

log = logging.getLogger("housing_kb.worker")
#: Seconds between looks at the queue when it is empty, and between heartbeats of a running job.
POLL_S = 1.0
HEARTBEAT_S = 5.0
#: Passages shown to the editor in the review.
SAMPLE_PASSAGES = 3
#: Seconds between an idle worker's checks that Milvus (when it is the backend) holds the index's state.
CATCH_UP_S = 30.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        secondary: Embedder | None = None,
        stale_after: float = STALE_AFTER_S,
    ) -> None:
        self.settings = settings
        self.jobs = ContributionStore(settings.platform_db)
        self.name = worker_name()
        self._embedder = embedder
        self._secondary = secondary
        self.stale_after = stale_after

    # ------------------------------------------------------------------ the loop
    def run_until(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set, looking at the queue every POLL_S when it is empty."""
        log.info("worker %s: watching %s", self.name, self.jobs.path)
        next_catch_up = 0.0
        while not stop.is_set():
            try:
                worked = self.run_once()
                if not worked and time.monotonic() >= next_catch_up:
                    next_catch_up = time.monotonic() + CATCH_UP_S
                    self.catch_up()
            except Exception:  # a worker must outlive any one job's surprise
                log.exception("worker %s: unexpected error", self.name)
                worked = False
            if not worked:
                stop.wait(POLL_S)

    def catch_up(self) -> None:
        """Bring a Milvus that an unfinished sync left behind in step with the live index."""
        synced = catch_up_search_backend(self.settings)
        if synced:
            log.info("worker %s: Milvus had fallen behind the index; %s", self.name, synced)

    def run_once(self) -> bool:
        """Carry out one job if there is one; whether there was."""
        job = self.jobs.claim(self.name, stale_after=self.stale_after)
        if job is None:
            return False
        beating = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, beating), daemon=True)
        beat.start()
        try:
            self._do(job)
        except IndexLocked as exc:
            log.info("job %s waits: %s", job.job_id, exc)
            self.jobs.release(job.job_id, self.name)
            return False
        except Exception as exc:
            log.exception("job %s failed", job.job_id)
            self.jobs.move(job.job_id, "failed", reason=clip(f"the worker could not finish it: {exc}", 300))
        finally:
            beating.set()
            beat.join()
        return True

    def _beat(self, job: Job, done: threading.Event) -> None:
        while not done.wait(HEARTBEAT_S):
            self.jobs.heartbeat(job.job_id, self.name)

    def _do(self, job: Job) -> None:
        if job.action == "delete":
            self._delete(job)
            return
        if job.action in ("rebuild", "update"):
            self._reindex(job)
            return
        contribution = self.jobs.get(job.document_id)
        if contribution is None:
            self.jobs.move(job.job_id, "failed", reason="the contribution was deleted")
        elif job.state in ("queued", "extracting", "embedding"):
            self._process(job, contribution)
        elif job.state == "publishing":
            self._publish(job, contribution)
        elif job.state == "unpublishing":
            remove_documents(self.settings, [job.document_id])
            self.jobs.move(job.job_id, "review", expect=("unpublishing",))

    # ------------------------------------------------------------------ the steps
    def staging_dir(self, document_id: str) -> Path:
        return self.settings.data_dir / "staging" / document_id

    def _models(self) -> tuple[Embedder, Embedder | None]:
        from housing_kb.models.registry import lazy_embedder

        s = self.settings
        if self._embedder is None:
            self._embedder = lazy_embedder(s.embedder, s)
        if self._secondary is None and s.second_embedder.lower() != "none":
            self._secondary = lazy_embedder(s.second_embedder, s)
        return self._embedder, self._secondary

    def _ingest(self, settings: Settings, contribution: Contribution, **options: Any):
        embedder, secondary = self._models()
        entry = ManifestEntry(**contribution.manifest_fields())
        return run_ingest(
            settings,
            embedder=embedder,
            secondary=secondary,
            manifest=Manifest(documents=[entry]),
            only={entry.id},
            show_progress=False,
            **options,
        )

    def _process(self, job: Job, contribution: Contribution) -> None:
        staging = self.staging_dir(contribution.document_id)
        shutil.rmtree(staging, ignore_errors=True)
        # The review index is the worker's own and nothing searches it: embedded, whatever the live
        # backend (on Milvus its sync would overwrite the live collections with this one document).
        staged = self.settings.with_(
            index_dir=staging / "index", data_root=self.settings.data_dir, backend="embedded"
        )
        report = self._ingest(
            staged,
            contribution,
            on_stage=lambda stage, _: self.jobs.move(job.job_id, stage),  # type: ignore[arg-type]
        )
        if report.failed:
            failure = report.failed[0]
            self.jobs.move(job.job_id, "failed", reason=f"{contribution.filename}: {failure.reason}")
            shutil.rmtree(staging, ignore_errors=True)
            return
        self.jobs.set_review(
            contribution.document_id, review_summary(staged.index_dir, contribution.document_id)
        )
        self.jobs.move(job.job_id, "review")

    def _publish(self, job: Job, contribution: Contribution) -> None:
        staging = self.staging_dir(contribution.document_id) / "index"
        report = self._ingest(self.settings, contribution, seed_from=staging if staging.is_dir() else None)
        if report.failed:
            self.jobs.move(job.job_id, "failed", reason=f"{contribution.filename}: {report.failed[0].reason}")
            return
        if self.jobs.move(job.job_id, "published", expect=("publishing",)):
            shutil.rmtree(staging.parent, ignore_errors=True)

    def _delete(self, job: Job) -> None:
        self.jobs.move(job.job_id, "deleting")
        contribution = self.jobs.get(job.document_id)
        remove_documents(self.settings, [job.document_id])
        if contribution is not None:
            upload = self.settings.data_dir / contribution.path
            upload.unlink(missing_ok=True)
            shutil.rmtree(self.staging_dir(job.document_id), ignore_errors=True)
            self.jobs.remove(job.document_id)
            self.jobs.move(contribution.job_id, "deleted")
        self.jobs.move(job.job_id, "deleted")

    def _reindex(self, job: Job) -> None:
        self.jobs.move(job.job_id, "reindexing")
        embedder, secondary = self._models()
        report = run_ingest(
            self.settings,
            embedder=embedder,
            secondary=secondary,
            manifest=collection_manifest(self.settings.manifest_path, self.settings.platform_db),
            rebuild=job.action == "rebuild",
            show_progress=False,
        )
        self.jobs.move(job.job_id, "reindexed", reason=clip(reindex_summary(report), 2000))


def reindex_summary(report: IngestReport) -> str:
    """One line for the admin: what the run did, and each document that failed with its reason."""
    counts = [
        f"{report.documents_in_manifest} documents",
        f"{len(report.added)} added",
        f"{len(report.updated)} re-processed",
        f"{len(report.metadata_refreshed)} with new metadata",
        f"{len(report.deleted)} removed",
        f"{len(report.failed)} failed",
    ]
    failures = [f.line() for f in report.failed]
    return "; ".join([", ".join(counts), *failures])


def review_summary(index_dir: Path, document_id: str) -> dict[str, Any]:
    """What an editor needs to judge a submission: what was extracted, and the tags proposed."""
    store = IndexStore.open(index_dir, readonly=True, create=False)
    record = next(d for d in store.documents() if d.doc_id == document_id)
    passages = store.passages_of(document_id)
    return {
        "pages": record.n_pages,
        "empty_pages": record.empty_pages,
        "language": record.language,
        "passages": len(passages),
        "warnings": record.warnings,
        "proposed_tags": record.tag_summary,
        "sample": [clip(p.text, 400) for p in passages[:SAMPLE_PASSAGES]],
    }


class WorkerThread:
    """The worker inside the API server: one daemon thread, stopped with the server."""

    def __init__(self, worker: Worker) -> None:
        self.stop = threading.Event()
        self.worker = worker
        self.thread = threading.Thread(
            target=self.worker.run_until, args=(self.stop,), daemon=True, name="worker"
        )

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
