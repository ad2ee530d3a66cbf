"""API keys, roles and rate limits, on a real uvicorn server, and the versioned API with offline docs.

These routes need no index: the app is built around an engine that is never opened (the index-backed
routes under a key are tested in tests/test_api.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from conftest import serve_in_thread
from typer.testing import CliRunner

from housing_kb.api.app import create_app
from housing_kb.api.cli import app as cli_app
from housing_kb.api.keys import KeyStore
from housing_kb.config import Settings

#: Stands in for the SearchEngine: none of the routes used here reads the index.
NO_ENGINE = object()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env().with_(index_dir=tmp_path / "index")


def serve(settings: Settings):
    return serve_in_thread(create_app(settings, engine=NO_ENGINE))  # type: ignore[arg-type]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_only_a_salted_hash_is_stored_and_a_revoked_key_stops_working(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "platform.sqlite")
    made = keys.create(role="contributor", name="Lima office", by="cli")
    other = keys.create(role="contributor", name="Lima office", by="cli")
    assert made.secret.startswith("hkb_") and made.secret != other.secret
    assert keys.verify(made.secret).role == "contributor"
    assert keys.verify(made.secret[:-1] + ("A" if made.secret[-1] != "A" else "B")) is None
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("platform.sqlite*"))
    assert made.secret.encode() not in stored and made.secret.split("_", 2)[2].encode() not in stored
    assert keys.revoke(made.key.key_id, by="cli") and not keys.revoke(made.key.key_id, by="cli")
    assert keys.verify(made.secret) is None and keys.verify(other.secret) is not None
    with pytest.raises(ValueError, match="role must be one of reader, contributor, editor, admin"):
        keys.create(role="owner", name="x", by="cli")


def test_the_audit_log_is_append_only(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "platform.sqlite")
    keys.create(role="admin", name="first admin", by="cli")
    db = sqlite3.connect(tmp_path / "platform.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_log")
    total, entries = keys.audit_entries()
    assert total == 1 and entries[0].action == "key.create" and "role=admin" in entries[0].details


def test_every_role_boundary_of_the_admin_endpoints(settings: Settings) -> None:
    keys = KeyStore(settings.platform_db)
    made = {
        role: keys.create(role=role, name=f"{role} key", by="cli") for role in ("reader", "editor", "admin")
    }
    with serve(settings) as url, httpx.Client(base_url=url) as client:
        anonymous = client.get("/v1/keys")
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        assert anonymous.json()["required_role"] == "admin" and "admin" in anonymous.json()["message"]
        for role in ("reader", "editor"):
            r = client.get("/v1/keys", headers=bearer(made[role].secret))
            assert r.status_code == 403, role
            assert r.json() == {
                "error": "forbidden",
                "message": f"this needs role admin or above; the key '{role} key' has role {role}",
                "required_role": "admin",
            }
        admin = bearer(made["admin"].secret)
        listed = client.get("/v1/keys", headers=admin).json()["keys"]
        assert {k["role"] for k in listed} == {"reader", "editor", "admin"}
        assert all("key" not in k and "digest" not in k for k in listed)

        new = client.post("/v1/keys", json={"role": "contributor", "name": "Accra desk"}, headers=admin)
        assert new.status_code == 201 and new.json()["key"].startswith("hkb_")
        bad = client.post("/v1/keys", json={"role": "owner", "name": "x"}, headers=admin)
        assert bad.status_code == 422 and bad.json()["parameter"] == "role"

        revoked = client.delete(f"/v1/keys/{new.json()['key_id']}", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert client.delete(f"/v1/keys/{new.json()['key_id']}", headers=admin).status_code == 404
        dead = client.get("/v1/labels", headers=bearer(new.json()["key"]))
        assert dead.status_code == 401 and "revoked" in dead.json()["message"]
        assert client.get("/v1/labels", headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401

        log = client.get("/v1/audit", headers=admin).json()
        assert [e["action"] for e in log["entries"][:2]] == ["key.revoke", "key.create"]
        assert log["entries"][0]["actor"] == f"key:{made['admin'].key.key_id} (admin key)"
        assert client.get("/v1/audit", headers=bearer(made["editor"].secret)).status_code == 403


def test_reading_is_public_unless_the_server_requires_a_key(settings: Settings) -> None:
    reader = KeyStore(settings.platform_db).create(role="reader", name="reader", by="cli")
    with serve(settings) as url:
        assert httpx.get(url + "/v1/labels").status_code == 200
    with serve(settings.with_(require_key=True)) as url:
        r = httpx.get(url + "/v1/labels")
        assert r.status_code == 401 and r.json()["required_role"] == "reader"
        assert httpx.get(url + "/v1/labels", headers=bearer(reader.secret)).status_code == 200
        # the API's docs are not API calls: they load without a key
        assert httpx.get(url + "/docs").status_code == 200


def test_rate_limits_per_address_and_per_key_answer_429_with_retry_after(settings: Settings) -> None:
    settings = settings.with_(rate_limit="3/minute", key_rate_limit="5/minute")
    key = KeyStore(settings.platform_db).create(role="reader", name="dashboard", by="cli")
    with serve(settings) as url, httpx.Client(base_url=url) as client:
        codes = [client.get("/v1/labels").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.get("/v1/labels")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"] == "rate_limited"
        assert "3 requests per minute from this address (HOUSING_KB_RATE_LIMIT)" in refused.json()["message"]
        # a key has its own budget, whatever its address has spent
        keyed = [client.get("/v1/labels", headers=bearer(key.secret)).status_code for _ in range(6)]
        assert keyed == [200] * 5 + [429]


def test_a_rate_that_is_not_a_rate_is_named(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOUSING_KB_RATE_LIMIT", "lots")
    with pytest.raises(ValueError, match="HOUSING_KB_RATE_LIMIT='lots' is not a rate"):
        Settings.from_env()
    with pytest.raises(ValueError, match="HOUSING_KB_KEY_RATE_LIMIT='10 a minute' is not a rate"):
        settings.with_(key_rate_limit="10 a minute")


def test_every_endpoint_is_under_v1_and_the_old_paths_are_deprecated(settings: Settings) -> None:
    with serve(settings) as url:
        paths = httpx.get(url + "/openapi.json").json()["paths"]
        assert httpx.get(url + "/labels").status_code == 200  # the alias still answers
    operations = [(p, m, op) for p, ops in paths.items() for m, op in ops.items()]
    versioned = {p for p, _, op in operations if not op.get("deprecated")}
    assert versioned and all(p.startswith("/v1/") for p in versioned)
    aliases = {p for p, _, op in operations if op.get("deprecated")}
    assert {"/search", "/ask", "/brief", "/documents", "/health"} <= aliases
    assert all("/v1" + p in versioned for p in aliases)


def test_docs_and_redoc_load_their_assets_from_this_server(settings: Settings) -> None:
    with serve(settings) as url, httpx.Client(base_url=url) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page).text
            assets = [a for a in html.split('"') if a.endswith((".js", ".css"))]
            assert assets, page
            for asset in assets:
                assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
                served = client.get(asset)
                assert served.status_code == 200 and len(served.content) > 10_000, asset


def test_keys_from_the_command_line(settings: Settings) -> None:
    runner = CliRunner()
    index = ["--index", str(settings.index_dir)]
    made = runner.invoke(cli_app, ["keys", "create", "--role", "editor", "--name", "Nairobi desk", *index])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[0]
    key = KeyStore(settings.platform_db).verify(secret)
    assert key is not None and key.role == "editor"
    listed = runner.invoke(cli_app, ["keys", "list", *index])
    assert key.key_id in listed.stdout and "Nairobi desk" in listed.stdout and secret not in listed.stdout
    assert runner.invoke(cli_app, ["keys", "revoke", key.key_id, *index]).exit_code == 0
    again = runner.invoke(cli_app, ["keys", "revoke", key.key_id, *index])
    assert again.exit_code == 2 and "no working key" in again.output
    wrong = runner.invoke(cli_app, ["keys", "create", "--role", "owner", "--name", "x", *index])
    assert wrong.exit_code == 2 and "role must be one of" in wrong.output
