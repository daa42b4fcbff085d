"""The published API contract: /api/v1/openapi.json is valid OpenAPI 3 and /api/v1/docs
renders from local static files."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from schemathesis.specs.openapi.adapter.validators import validate_v3

from opsdesk.core.testing.api import HTTP_METHODS, operations

pytestmark = pytest.mark.django_db

ERROR_SHAPE_REF = "#/components/schemas/ErrorOut"


@pytest.fixture
def schema(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("application/json")
    return resp.json()


def test_schema_validates_against_the_openapi_3_meta_schema(schema):
    assert re.fullmatch(r"3\.\d+\.\d+", schema["openapi"])
    # The official OpenAPI 3.x JSON Schema, as shipped with schemathesis; raises if invalid.
    validate_v3(schema)


def test_validator_rejects_a_broken_document(schema):
    """The validator above is not a no-op: the same document with a broken operation fails."""
    broken = {**schema, "paths": {"/x": {"get": {"responses": "not-an-object"}}}}
    with pytest.raises(ValueError):
        validate_v3(broken)


def test_schema_structure(schema):
    assert schema["info"]["title"] == "OpsDesk API"
    assert schema["info"]["version"]
    assert schema["paths"], "no operations"
    for path in schema["paths"]:
        assert path.startswith("/api/v1/"), path
    schemes = schema["components"]["securitySchemes"]
    assert schemes["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    operation_ids = [op["operationId"] for _, _, op in operations(schema)]
    assert len(operation_ids) == len(set(operation_ids)), "duplicate operationId"


def test_every_path_parameter_is_declared(schema):
    for method, path, op in operations(schema):
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)


def test_every_operation_except_health_requires_authentication(schema):
    for method, path, op in operations(schema):
        if (method, path) == ("GET", "/api/v1/health"):
            assert not op.get("security")
        else:
            assert op.get("security"), f"{method} {path} has no security requirement"


def test_every_request_body_refuses_unknown_fields(schema):
    """Bodies are InSchema subclasses: extra fields are refused, not silently dropped."""
    components = schema["components"]["schemas"]
    bodies = 0
    for method, path, op in operations(schema):
        body = op.get("requestBody")
        if not body:
            continue
        bodies += 1
        if "multipart/form-data" in body["content"]:
            # Uploads: the route itself refuses unknown form fields (see the imports API tests).
            assert set(body["content"]) == {"multipart/form-data"}, (method, path)
            continue
        declared = body["content"]["application/json"]["schema"]
        if declared.get("x-vendor-payload"):
            # A monitoring tool's own webhook format (events intake): its adapter checks it
            # and answers 400 naming the field.
            continue
        ref = declared["$ref"]
        component = components[ref.rsplit("/", 1)[-1]]
        assert component.get("additionalProperties") is False, (method, path)
    assert bodies >= 5


def test_errors_are_documented_in_the_error_shape(schema):
    error = schema["components"]["schemas"]["ErrorOut"]
    assert set(error["properties"]) == {"detail", "errors"}
    for method, path, op in operations(schema):
        for status, response in op["responses"].items():
            if status.startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == ERROR_SHAPE_REF, (method, path, status)


def test_authentication_and_validation_errors_are_documented(schema):
    for method, path, op in operations(schema):
        responses = op["responses"]
        if op.get("security"):
            assert "401" in responses, f"{method} {path} does not document 401"
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in responses, f"{method} {path} does not document 422"


def test_only_known_http_methods(schema):
    for item in schema["paths"].values():
        assert set(item) <= set(HTTP_METHODS) | {"parameters", "summary", "description"}


def test_docs_render_from_local_static_files(client):
    resp = client.get("/api/v1/docs")
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/html")
    html = resp.content.decode()
    assert "/api/v1/openapi.json" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert any(a.endswith("swagger-ui.css") for a in assets), assets
    for asset in assets:
        assert not re.match(r"^(https?:)?//", asset), f"external asset {asset}"
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a local static file"
    # No CDN anywhere in the page, nor allowed by its Content-Security-Policy.
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    csp = resp.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp
    assert "http" not in csp


def test_docs_assets_are_served(client):
    html = client.get("/api/v1/docs").content.decode()
    bundle = next(a for a in re.findall(r'src="([^"]+)"', html) if "swagger-ui-bundle" in a)
    resp = client.get(bundle)
    assert resp.status_code == 200
