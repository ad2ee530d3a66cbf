"""The write path on a real uvicorn server: a contributor submits a real PDF, an editor reviews and
publishes it, searches find it, the editor deletes it and it is gone; broken files fail with their
reasons; limits and hostile input are named; a worker killed with -9 mid-publish leaves nothing half-done."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import copy_into, index_env, manifest_entry, serve_in_thread, write_manifest
from typer.testing import CliRunner

from housing_kb.api.app import create_app
from housing_kb.api.cli import app as cli_app
from housing_kb.api.contributions import ContributionStore
from housing_kb.api.keys import KeyStore
from housing_kb.api.worker import Worker
from housing_kb.index.query.engine import SearchEngine
from housing_kb.index.store.index_store import IndexStore
from housing_kb.ingest.pipeline import run_ingest

pytestmark = pytest.mark.model

MUKURU = "undp_acclabs_case_studies/blog_voices_of_mukuru_real_faces_of_the_world_of_work.md"
CHARTER = "france_resorption_bidonvilles/charte-d-engagement-resorption-bidonvilles_v2.pdf"
CHARTER_QUERY = "charte d'engagement pour la résorption des bidonvilles"
METADATA = {
    "title": "Charte d'engagement pour la résorption des bidonvilles",
    "document_type": "programme_guideline",
    "countries": ["FRA"],
    "year": 2021,
    "publisher": "Ministère de la Transition écologique",
    "licence": "Licence Ouverte 2.0",
}
CONTACT = {"name": "Camille Martin", "organisation": "DIHAL", "email": "camille.martin@example.org"}


# Own index for each test: each publishes, deletes or re-indexes documents in it, or kills its worker.
@pytest.fixture
def live(tmp_path, corpus_dir, model_settings, e5_embedder, use_embedder):
    """Settings of a small live index (one document), its own data directory and keys."""
    root = tmp_path / "corpus"
    copy_into(corpus_dir, root, MUKURU)
    entries = [
        manifest_entry(
            "ke-mukuru",
            MUKURU,
            root,
            title="Voices of Mukuru",
            document_type="case_study",
            countries=["KEN"],
            regions=["africa"],
        )
    ]
    settings = model_settings.with_(
        corpus_dir=root,
        manifest_path=write_manifest(tmp_path / "manifest.yaml", entries),
        index_dir=tmp_path / "data" / "index",
    )
    report = run_ingest(settings, embedder=e5_embedder, secondary=use_embedder, show_progress=False)
    assert report.ok, report.summary_lines()
    return settings


def keys_for(settings, *roles):
    store = KeyStore(settings.platform_db)
    return {
        r: {"Authorization": f"Bearer {store.create(role=r, name=f'{r} desk', by='test').secret}"}
        for r in roles
    }


def submit(client, headers, path: Path, metadata=METADATA, contact=CONTACT, name=None):
    return client.post(
        "/v1/documents",
        headers=headers,
        files={"file": (name or path.name, path.read_bytes(), "application/octet-stream")},
        data={"metadata": json.dumps(metadata), "contact": json.dumps(contact)},
    )


def wait_for(client, job_id, states, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def charter_hits(client):
    hits = client.get("/v1/search", params={"q": CHARTER_QUERY, "k": 10}).json()["hits"]
    return [h for h in hits if h["document"]["id"].startswith("charte-d-engagement")]


def test_submit_review_publish_find_delete(live, corpus_dir, e5_embedder, use_embedder):
    keys = keys_for(live, "reader", "contributor", "editor")
    engine = SearchEngine.open(live, embedder=e5_embedder)
    worker = Worker(live, embedder=e5_embedder, secondary=use_embedder)
    pdf = corpus_dir / CHARTER
    with (
        serve_in_thread(create_app(live, engine=engine, worker=worker)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert submit(client, {}, pdf).status_code == 401
        denied = submit(client, keys["reader"], pdf)
        assert denied.status_code == 403 and denied.json()["required_role"] == "contributor"

        made = submit(client, keys["contributor"], pdf)
        assert made.status_code == 202, made.text
        document_id, job_id = made.json()["document_id"], made.json()["job_id"]
        assert made.json()["status"] == "queued" and document_id.startswith("charte-d-engagement")
        job = wait_for(client, job_id, ("review", "failed"))
        assert job["status"] == "review", job["reason"]

        # unpublished: invisible to readers everywhere, and the live index untouched by its review copy
        assert charter_hits(client) == []
        live_hits = client.get("/v1/search", params={"q": "Mukuru informal settlement"}).json()["hits"]
        assert live_hits and {h["document"]["id"] for h in live_hits} == {"ke-mukuru"}
        assert client.get(f"/v1/documents/{document_id}").status_code == 404
        assert document_id not in [d["id"] for d in client.get("/v1/documents").json()["documents"]]

        assert client.get("/v1/review", headers=keys["contributor"]).status_code == 403
        queue = client.get("/v1/review", headers=keys["editor"]).json()
        assert queue["total"] == 1
        item = queue["items"][0]
        assert item["document_id"] == document_id and item["contact"]["email"] == CONTACT["email"]
        assert item["review"]["pages"] == 3 and item["review"]["language"] == "fr"
        assert item["review"]["passages"] >= 1 and "bidonvilles" in " ".join(item["review"]["sample"]).lower()
        assert item["metadata"]["regions"] == ["western_europe_others"]  # from the country

        assert (
            client.post(f"/v1/documents/{document_id}/publish", headers=keys["contributor"]).status_code
            == 403
        )
        published = client.post(f"/v1/documents/{document_id}/publish", headers=keys["editor"])
        assert published.status_code == 202 and published.json()["status"] == "publishing"
        again = client.post(f"/v1/documents/{document_id}/publish", headers=keys["editor"])
        assert again.status_code == 409
        assert wait_for(client, job_id, ("published", "failed"))["status"] == "published"
        hits = charter_hits(client)
        assert hits and hits[0]["citation"]["page_start"] in (1, 2, 3)
        assert client.get(f"/v1/documents/{document_id}").json()["passages"] == item["review"]["passages"]

        # an editor corrects the metadata of the published document: no re-embedding, and the
        # passages that name no country now inherit the new one (the country filter reads them)
        fix = {"title": "Charte de résorption des bidonvilles (2021)", "countries": ["FRA", "BEL"]}
        doc_url = f"/v1/documents/{document_id}"
        assert client.patch(doc_url, json=fix, headers=keys["contributor"]).status_code == 403
        manifest_doc = client.patch("/v1/documents/ke-mukuru", json=fix, headers=keys["editor"])
        assert manifest_doc.status_code == 409 and "corpus manifest" in manifest_doc.json()["message"]
        bad = client.patch(doc_url, json={"countries": ["XXX"], "year": 1200}, headers=keys["editor"])
        assert bad.status_code == 422
        assert {p.split(":")[0] for p in bad.json()["problems"]} == {"metadata.countries", "metadata.year"}
        unknown = client.patch(doc_url, json={"country": ["BEL"]}, headers=keys["editor"])
        assert unknown.status_code == 422 and "country" in unknown.text
        edited = client.patch(doc_url, json=fix, headers=keys["editor"])
        assert edited.status_code == 200, edited.text
        assert edited.json()["changed"] == ["countries", "title"]
        assert edited.json()["metadata"]["regions"] == ["western_europe_others"]  # follow from both
        assert edited.json()["job"]["status"] == "publishing"
        assert wait_for(client, job_id, ("published", "failed"))["status"] == "published"
        shown = client.get(doc_url).json()
        assert shown["title"] == fix["title"] and shown["countries"] == ["FRA", "BEL"]
        belgian = client.get("/v1/search", params={"q": CHARTER_QUERY, "country": "BEL"}).json()["hits"]
        assert belgian and {h["document"]["id"] for h in belgian} == {document_id}
        same = client.patch(doc_url, json={"title": fix["title"]}, headers=keys["editor"])
        assert same.json()["changed"] == [] and same.json()["job"]["status"] == "published"

        duplicate = submit(client, keys["contributor"], pdf, name="copie.pdf")
        assert duplicate.status_code == 200 and duplicate.json()["duplicate"] is True
        assert duplicate.json()["document_id"] == document_id

        exported = CliRunner().invoke(
            cli_app,
            ["manifest", "export", "--index", str(live.index_dir), "--manifest", str(live.manifest_path)],
        )
        entries = {e["id"]: e for e in yaml.safe_load(exported.stdout)["documents"]}
        assert set(entries) == {"ke-mukuru", document_id}
        assert (
            entries[document_id]["path"].startswith("uploads/") and len(entries[document_id]["sha256"]) == 64
        )

        deleting = client.delete(f"/v1/documents/{document_id}", headers=keys["editor"])
        assert deleting.status_code == 202
        assert wait_for(client, deleting.json()["job_id"], ("deleted", "failed"))["status"] == "deleted"
        assert charter_hits(client) == []
        assert client.get(f"/v1/documents/{document_id}").status_code == 404
        assert not list((live.data_dir / "uploads").glob("*.pdf"))
        corpus_doc = client.delete("/v1/documents/ke-mukuru", headers=keys["editor"])
        assert corpus_doc.status_code == 409 and "corpus manifest" in corpus_doc.json()["message"]

        admin = keys_for(live, "admin")["admin"]
        actions = [
            (e["action"], e["target"]) for e in client.get("/v1/audit", headers=admin).json()["entries"]
        ]
        assert [a for a, t in actions if t == document_id] == [
            "document.delete",
            "document.edit",
            "document.publish",
            "document.submit",
        ]


def _docx(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buf.getvalue()


def test_a_corrupt_pdf_and_a_zip_bomb_docx_fail_with_their_reasons(live, tmp_path, e5_embedder):
    keys = keys_for(live, "contributor")
    corrupt = tmp_path / "plan.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\n" + os.urandom(3000))
    bomb = tmp_path / "ley.docx"
    bomb.write_bytes(
        _docx(
            {
                "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
                "word/document.xml": b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>',
                "word/media/image1.png": b"\0" * (10 << 20),
            }
        )
    )
    assert bomb.stat().st_size < 100_000
    engine = SearchEngine.open(live, embedder=e5_embedder)
    with (
        serve_in_thread(create_app(live, engine=engine, worker=False)) as url,
        httpx.Client(base_url=url) as client,
    ):
        jobs = {
            name: submit(client, keys["contributor"], path).json()["job_id"]
            for name, path in (("pdf", corrupt), ("docx", bomb))
        }
        worker = Worker(live.with_(max_zip_member_mb=8), embedder=e5_embedder)
        while worker.run_once():
            pass
        pdf, docx = (client.get(f"/v1/jobs/{jobs[n]}").json() for n in ("pdf", "docx"))
    assert pdf["status"] == "failed" and pdf["reason"].startswith("plan.pdf: ")
    assert "Traceback" not in pdf["reason"] and len(pdf["reason"]) < 400
    assert docx["status"] == "failed" and "inflates to 10 MB" in docx["reason"]
    assert "HOUSING_KB_MAX_ZIP_MEMBER_MB" in docx["reason"]
    assert [d.doc_id for d in IndexStore.open(live.index_dir, readonly=True).documents()] == ["ke-mukuru"]


def test_limits_and_hostile_submissions_are_named(live, tmp_path, e5_embedder):
    keys = keys_for(live, "contributor")
    engine = SearchEngine.open(live, embedder=e5_embedder)
    with (
        serve_in_thread(create_app(live.with_(max_upload_mb=1), engine=engine, worker=False)) as url,
        httpx.Client(base_url=url) as client,
    ):
        big = tmp_path / "big.txt"
        big.write_bytes(b"housing " * (300 * 1024))  # 2.4 MB
        r = submit(client, keys["contributor"], big)
        assert r.status_code == 413 and "1 MB (HOUSING_KB_MAX_UPLOAD_MB)" in r.json()["message"]

        binary = tmp_path / "report.pdf"
        binary.write_bytes(bytes(range(256)) * 8)  # named .pdf, but neither a PDF nor text
        r = submit(client, keys["contributor"], binary)
        assert r.status_code == 415 and "PDF, DOCX, HTML, Markdown or plain text" in r.json()["message"]

        note = tmp_path / "note.txt"
        note.write_text("Informal settlement upgrading note.", encoding="utf-8")
        bad = {"title": "", "document_type": "memo", "path": "../../etc/passwd", "year": 1200}
        r = submit(
            client, keys["contributor"], note, metadata=bad, contact={"name": "A", "email": "not-an-email"}
        )
        problems = r.json()["problems"]
        assert r.status_code == 422 and len(problems) >= 5, problems
        for field in (
            "metadata.path",
            "metadata.title",
            "metadata.document_type",
            "metadata.year",
            "contact.email",
        ):
            assert any(p.startswith(field) for p in problems), (field, problems)
        assert not (live.data_dir / "uploads").exists() or not list((live.data_dir / "uploads").iterdir())

        for address in ("http://127.0.0.1:9/x.pdf", "http://169.254.169.254/latest", "file:///etc/passwd"):
            r = client.post(
                "/v1/documents",
                headers=keys["contributor"],
                data={"url": address, "metadata": json.dumps(METADATA), "contact": json.dumps(CONTACT)},
            )
            assert r.status_code == 422 and r.json()["parameter"] == "url", (address, r.text)
        assert (
            "loopback"
            in client.post(
                "/v1/documents",
                headers=keys["contributor"],
                data={
                    "url": "http://localhost:9/a.pdf",
                    "metadata": json.dumps(METADATA),
                    "contact": json.dumps(CONTACT),
                },
            ).json()["message"]
        )


def test_a_worker_killed_mid_publish_is_taken_up_and_nothing_is_half_indexed(
    live, corpus_dir, e5_embedder, use_embedder
):
    store = ContributionStore(live.platform_db)
    keys = keys_for(live, "contributor", "editor")
    engine = SearchEngine.open(live, embedder=e5_embedder)
    with (
        serve_in_thread(create_app(live, engine=engine, worker=False)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        made = submit(client, keys["contributor"], corpus_dir / CHARTER).json()
        Worker(live, embedder=e5_embedder, secondary=use_embedder).run_once()  # extraction and review
        assert client.get(f"/v1/jobs/{made['job_id']}").json()["status"] == "review"
        expected = store.get(made["document_id"]).review["passages"]
        client.post(f"/v1/documents/{made['document_id']}/publish", headers=keys["editor"])

        env = index_env(live)
        process = subprocess.Popen(
            [sys.executable, "-m", "housing_kb.api.cli", "worker"], env=env, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.time() + 240
            while time.time() < deadline:  # its claim on the job: it has begun publishing
                with store._connect() as db:
                    claimed = db.execute(
                        "SELECT claimed_by FROM jobs WHERE job_id = ?", (made["job_id"],)
                    ).fetchone()[0]
                if claimed and claimed.split("/")[0].endswith(f":{process.pid}"):
                    break
                time.sleep(0.05)
            time.sleep(1.0)  # into the ingest
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        at_kill = client.get(f"/v1/jobs/{made['job_id']}").json()["status"]
        assert at_kill == "publishing"  # killed inside the ingest, claim and all

        Worker(live, embedder=e5_embedder, secondary=use_embedder).run_once()  # the next worker takes it up
        assert client.get(f"/v1/jobs/{made['job_id']}").json()["status"] == "published"
        stored = IndexStore.open(live.index_dir, readonly=True)
        assert len(stored.passages_of(made["document_id"])) == expected
        assert charter_hits(client)


SAUDI_ORDER = (
    "saudi_arabia_housing_ar/أمر ملكي رقم (أ ٣٢٢) ضم وزارة الإسكان إلى وزارة الشؤون البلدية والقروية.md"
)


def test_an_admin_re_indexes_the_collection_and_keeps_the_published_contributions(
    live, corpus_dir, e5_embedder, use_embedder
):
    from housing_kb.ingest.uploads import store_upload

    keys = keys_for(live, "editor", "admin")
    store = ContributionStore(live.platform_db)
    # a contribution published earlier: not in the corpus manifest, yet part of the collection
    sha, path = store_upload(
        [(corpus_dir / SAUDI_ORDER).read_bytes()],
        live.data_dir / "uploads",
        filename="order.md",
        max_bytes=1 << 20,
    )
    made = store.submit(
        document_id="sa-royal-order",
        sha256=sha,
        path=path,
        filename="order.md",
        metadata={
            "title": "Royal order A/322",
            "document_type": "law",
            "countries": ["SAU"],
            "regions": ["arab_states"],
        },
        contact=CONTACT,
        submitted_by="test",
    )
    store.move(made.job_id, "published")
    engine = SearchEngine.open(live, embedder=e5_embedder)
    worker = Worker(live, embedder=e5_embedder, secondary=use_embedder)
    with (
        serve_in_thread(create_app(live, engine=engine, worker=False)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.post("/v1/admin/reindex").status_code == 401
        denied = client.post("/v1/admin/reindex", headers=keys["editor"])
        assert denied.status_code == 403 and denied.json()["required_role"] == "admin"
        bad = client.post("/v1/admin/reindex", json={"mode": "everything"}, headers=keys["admin"])
        assert bad.status_code == 422 and "mode" in bad.text

        update = client.post("/v1/admin/reindex", json={"mode": "update"}, headers=keys["admin"])
        assert update.status_code == 202, update.text
        assert update.json()["status"] == "queued" and update.json()["document_id"] == "*"
        assert client.post("/v1/admin/reindex", headers=keys["admin"]).status_code == 409
        assert worker.run_once()
        done = client.get(f"/v1/jobs/{update.json()['job_id']}").json()
        assert done["status"] == "reindexed", done["reason"]
        assert done["reason"].startswith("2 documents, 1 added") and "0 failed" in done["reason"]
        ids = {d["id"] for d in client.get("/v1/documents").json()["documents"]}
        assert ids == {"ke-mukuru", "sa-royal-order"}

        before = live.index_dir.resolve()
        rebuild = client.post("/v1/admin/reindex", headers=keys["admin"])  # rebuild, the default
        assert rebuild.status_code == 202 and rebuild.json()["action"] == "rebuild"
        assert worker.run_once()
        done = client.get(f"/v1/jobs/{rebuild.json()['job_id']}").json()
        assert done["status"] == "reindexed" and "0 failed" in done["reason"], done["reason"]
        assert live.index_dir.resolve() != before  # a fresh index, swapped in
        # the server follows the swap: both documents are still found, the contribution included
        assert {d["id"] for d in client.get("/v1/documents").json()["documents"]} == ids
        hits = client.get("/v1/search", params={"q": "وزارة الإسكان", "k": 5}).json()["hits"]
        assert hits and hits[0]["document"]["id"] == "sa-royal-order"
        actions = [e["action"] for e in client.get("/v1/audit", headers=keys["admin"]).json()["entries"]]
        assert actions[:2] == ["index.reindex", "index.reindex"]
