"""The OpenAPI document: every field and parameter is described, and the filters declare their values.

No model or index is needed: the app is built around an engine that is never opened (or a stub)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from housing_kb.api.app import create_app
from housing_kb.config import Settings
from housing_kb.index.query.filters import (
    ALL_KINDS,
    COMPONENTS,
    DOCUMENT_TYPES,
    REGIONS,
    STAGES,
    FilterTable,
)
from housing_kb.schema.vocabulary import KINDS

#: The valid values of each filter that declares an enum.
FILTER_VALUES = {
    "component": list(COMPONENTS),
    "stage": list(STAGES),
    "region": list(REGIONS),
    "document_type": list(DOCUMENT_TYPES),
    "kind": [*KINDS, ALL_KINDS],
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings.from_env().with_(index_dir=tmp_path_factory.mktemp("openapi") / "index")


@pytest.fixture(scope="module")
def schema(settings: Settings) -> dict[str, Any]:
    return create_app(settings, engine=object()).openapi()  # type: ignore[arg-type]


def _parameters(schema: dict[str, Any], path: str, method: str = "get") -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in schema["paths"][path][method].get("parameters", [])}


def test_every_schema_property_and_every_parameter_is_described(schema: dict[str, Any]) -> None:
    schemas = schema["components"]["schemas"]
    properties = [
        (name, prop, v) for name, s in schemas.items() for prop, v in s.get("properties", {}).items()
    ]
    parameters = [
        (f"{method.upper()} {path}", p)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for p in operation.get("parameters", [])
    ]
    # the walk sees the real document: the models and the search parameters are in it
    assert {"SearchRequest", "HitOut", "AskRequest", "CountryProfileOut", "KeyOut"} <= set(schemas)
    assert len(properties) > 200 and len(parameters) > 100
    undescribed = [
        f"{name}.{prop}" for name, prop, v in properties if not str(v.get("description", "")).strip()
    ]
    assert not undescribed, f"schema properties without a description: {', '.join(undescribed)}"
    unparametered = [f"{op} {p['name']}" for op, p in parameters if not str(p.get("description", "")).strip()]
    assert not unparametered, f"parameters without a description: {', '.join(unparametered)}"


def test_every_422_is_documented_as_the_error_the_api_sends(schema: dict[str, Any]) -> None:
    # the app answers invalid requests with ErrorOut, never FastAPI's default validation body
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if operation.get("parameters") or operation.get("requestBody"):
                error = operation["responses"].get("422")
                assert error, f"{method.upper()} {path} documents no 422"
                ref = error["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorOut", f"{method.upper()} {path}: {ref}"


def test_the_search_filters_declare_their_values(schema: dict[str, Any]) -> None:
    params = _parameters(schema, "/v1/search")
    for name, values in FILTER_VALUES.items():
        declared = params[name]["schema"]
        assert declared["type"] == "array" and declared["items"] == {"type": "string", "enum": values}, name
    assert "africa" in params["region"]["schema"]["items"]["enum"]
    assert "all" in params["kind"]["schema"]["items"]["enum"]
    assert "enum" not in params["country"]["schema"]["items"]  # any ISO code: checked, not listed
    body = schema["components"]["schemas"]["SearchRequest"]["properties"]
    for name, values in FILTER_VALUES.items():
        assert body[name]["items"]["enum"] == values, f"SearchRequest.{name}"


def test_the_other_endpoints_filters_declare_their_values(schema: dict[str, Any]) -> None:
    for path, names in {
        "/v1/facets": list(FILTER_VALUES),
        "/v1/ask": ["component", "region", "kind"],
        "/v1/documents": ["document_type", "region"],
        "/v1/countries": ["region"],
    }.items():
        params = _parameters(schema, path)
        for name in names:
            assert params[name]["schema"]["items"]["enum"] == FILTER_VALUES[name], f"{path} {name}"
    ask = schema["components"]["schemas"]["AskRequest"]["properties"]
    assert all(ask[n]["items"]["enum"] == FILTER_VALUES[n] for n in ("component", "region", "kind"))
    # /examples takes one optional value: the enum sits on the string, null stays allowed
    examples = _parameters(schema, "/v1/examples")
    for name in ("region", "component"):
        branches = examples[name]["schema"]["anyOf"]
        assert {"type": "null"} in branches
        assert next(b for b in branches if b["type"] == "string")["enum"] == FILTER_VALUES[name]


class _StubEngine:
    """Validates a search's filters as the real engine does, then stops: no index behind it."""

    def pinned(self) -> _StubEngine:
        return self

    def search(self, query: str, **kwargs: Any) -> Any:
        FilterTable().validate(kwargs["filters"])
        raise AssertionError("the filters should have been refused")


@pytest.mark.parametrize(
    ("parameter", "value"), [("region", "mars"), ("kind", "footnote"), ("document_type", "novel")]
)
def test_an_unknown_filter_value_still_gets_our_422_listing_the_valid_ones(
    settings: Settings, parameter: str, value: str
) -> None:
    # The enum is documentation: FastAPI must not refuse the value first with its own message.
    app = create_app(settings, engine=_StubEngine())  # type: ignore[arg-type]
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        got = client.get("/v1/search", params={"q": "housing", parameter: value})
        posted = client.post("/v1/search", json={"q": "housing", parameter: [value]})
    for r in (got, posted):
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "invalid_filter" and body["parameter"] == parameter
        assert body["valid"] == sorted(FILTER_VALUES[parameter]) and value in body["message"]
