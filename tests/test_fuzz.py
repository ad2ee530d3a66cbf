"""Schemathesis against the served /openapi.json: every /v1 operation, with requests generated from
its schema (valid and invalid), on a real uvicorn server over the session's small real index, and none
answers 5xx.

Requests carry an admin key, so the write endpoints are exercised past their role checks too. The
number of examples per operation is bounded (HOUSING_KB_FUZZ_EXAMPLES, default 12) to keep the run
to a few minutes; the worker is off, so submissions are validated and queued but never ingested."""

from __future__ import annotations

import pytest
import schemathesis
from conftest import serve_in_thread
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from housing_kb.api.app import create_app
from housing_kb.api.keys import KeyStore
from housing_kb.config import Settings

pytestmark = pytest.mark.model

EXAMPLES = Settings.from_env().fuzz_examples


@pytest.fixture(scope="module")
def fuzz_server(small_index, tmp_path_factory):
    # The session's small index, read only: the keys, submissions and jobs the fuzzer makes go to a data
    # directory of its own, and with the worker off nothing it queues reaches the index.
    index = small_index.with_(data_root=tmp_path_factory.mktemp("fuzz-data"))
    admin = KeyStore(index.platform_db).create(role="admin", name="fuzzer", by="test")
    # The fuzzer sends hundreds of requests a minute from one address: rate limits are tested elsewhere.
    app = create_app(index.with_(rate_limit="100000/minute", key_rate_limit="100000/minute"), worker=False)
    with serve_in_thread(app) as url:
        yield url, {"Authorization": f"Bearer {admin.secret}"}


def server_errors_of(operation, mode, headers) -> list[str]:
    """Run the operation's generated requests (valid or invalid, by ``mode``); every 5xx, as curl."""
    found = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def no_server_error(case):
        response = case.call(headers=headers, timeout=60)
        if response.status_code >= 500:
            found.append(
                f"{case.method} {case.formatted_path} ({mode.value}) -> {response.status_code}: "
                f"{response.text[:300]}\n{case.as_curl_command(headers=headers)}"
            )

    no_server_error()
    return found


def test_no_operation_answers_a_server_error(fuzz_server):
    url, admin = fuzz_server
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if not op.definition.raw.get("deprecated")]
    assert len(operations) > 20, "the served schema lists fewer operations than the API has"
    server_errors, nothing_to_invalidate = [], []
    for operation in operations:
        for mode in GenerationMode:
            try:
                server_errors += server_errors_of(operation, mode, admin)
            except Unsatisfiable:
                # An operation without parameters or body has no invalid form to generate.
                assert mode is GenerationMode.NEGATIVE, (
                    f"{operation.label}: no valid request could be generated"
                )
                nothing_to_invalidate.append(operation.label)
    assert not server_errors, "\n\n".join(server_errors[:10])
    assert len(nothing_to_invalidate) < len(operations) / 2, nothing_to_invalidate
