"""Helpers for API tests: a client that speaks JSON as a given user, error-shape checks,
the generated OpenAPI schema, and an inherited base class for API test classes.

    class TestTeams(ApiTest):
        def test_manager_creates(self):
            resp = self.as_user(self.cast.manager).post("/teams", {...})
            assert resp.status_code == 201

Paths are relative to ``/api/v1``; absolute ``/api/v1/...`` paths are accepted as well.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from django.test import Client

from opsdesk.core.testing.factories import token_for

API_PREFIX = "/api/v1"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def api_path(path: str) -> str:
    return path if path.startswith(API_PREFIX) else f"{API_PREFIX}{path}"


class ApiClient:
    """Calls the API as one user (by bearer token), or anonymously if `user` is None."""

    def __init__(self, client: Client | None = None, user: Any = None, token: str | None = None):
        self.client = client or Client()
        self.user = user
        if token is None and user is not None:
            token = token_for(user)
        self.token = token
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | bytes | None = None,
        params: dict[str, Any] | None = None,
        **extra: Any,
    ) -> Any:
        method = method.lower()
        call = getattr(self.client, method)
        url = api_path(path)
        headers = {**self.headers, **extra}
        if method == "get":
            return call(url, params or {}, **headers)
        if params:
            from urllib.parse import urlencode

            url = f"{url}?{urlencode(params, doseq=True)}"
        if raw is not None:
            data: Any = raw
        elif body is not None:
            data = json.dumps(body)
        else:
            data = ""
        return call(url, data=data, content_type="application/json", **headers)

    def get(self, path: str, params: dict[str, Any] | None = None, **extra: Any) -> Any:
        return self.request("get", path, params=params, **extra)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("post", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("patch", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("delete", path, **kwargs)

    def all_items(self, path: str, params: dict[str, Any] | None = None) -> list[dict]:
        """Every item of a paginated list, page by page."""
        items: list[dict] = []
        offset = 0
        while True:
            resp = self.get(path, {**(params or {}), "limit": 500, "offset": offset})
            assert resp.status_code == 200, (path, resp.status_code, resp.content[:500])
            page = resp.json()
            items.extend(page["items"])
            offset += page["limit"]
            if offset >= page["total"] or not page["items"]:
                return items


def assert_error_shape(body: Any) -> None:
    """`{"detail": str, "errors": [{"field": str|None, "message": str}, ...]}` and nothing else."""
    assert isinstance(body, dict), body
    assert set(body) == {"detail", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert isinstance(body["errors"], list), body
    for item in body["errors"]:
        assert set(item) == {"field", "message"}, body
        assert item["field"] is None or isinstance(item["field"], str), body
        assert isinstance(item["message"], str) and item["message"], body


def assert_error(resp: Any, status: int, field: str | None = None) -> dict:
    """The response has `status`, is JSON in the error shape and (if given) names `field`."""
    assert resp.status_code == status, (resp.status_code, resp.content[:1000])
    assert resp["Content-Type"].startswith("application/json"), resp["Content-Type"]
    body = resp.json()
    assert_error_shape(body)
    if field is not None:
        assert field in error_fields(body), (field, body)
    return body


def error_fields(body: dict) -> list[str | None]:
    return [e["field"] for e in body["errors"]]


@cache
def openapi_schema() -> dict:
    """The generated OpenAPI document (the same one /api/v1/openapi.json serves)."""
    from opsdesk.config.api import api

    return json.loads(json.dumps(api.get_openapi_schema(path_prefix=API_PREFIX + "/")))


def operations(schema: dict | None = None) -> list[tuple[str, str, dict]]:
    """(METHOD, path, operation) for every operation in the schema."""
    schema = schema or openapi_schema()
    found = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                found.append((method.upper(), path, op))
    return found


class ApiTest:
    """Base for API test classes: the cast, a Django client, and `as_user(user)`."""

    cast: Any
    client: Client

    @pytest.fixture(autouse=True)
    def _api_test_setup(self, cast: Any, client: Client) -> None:
        self.cast = cast
        self.client = client
        self._clients: dict[Any, ApiClient] = {}

    def as_user(self, user: Any) -> ApiClient:
        key = getattr(user, "pk", None)
        if key not in self._clients:
            self._clients[key] = ApiClient(self.client, user)
        return self._clients[key]

    @property
    def anonymous(self) -> ApiClient:
        return ApiClient(self.client)


def test_wsgi_app() -> Any:
    """The project's WSGI app for in-process tools (schemathesis): like Django's test client,
    it keeps the test's database connection open across requests, so each request runs inside
    the test transaction."""
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    app = get_wsgi_application()

    def wrapped(environ: dict, start_response: Any) -> Any:
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            return list(app(environ, start_response))
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)

    return wrapped


test_wsgi_app.__test__ = False  # type: ignore[attr-defined]


def access_modules() -> list[Any]:
    """Every app's contributions to the API meta-tests: the modules
    ``opsdesk/<app>/tests/api_access.py`` and ``api_access_<part>.py`` (one per part of an
    app built side by side)."""
    import importlib
    import pkgutil

    import opsdesk

    found = []
    for info in pkgutil.iter_modules(opsdesk.__path__):
        try:
            tests = importlib.import_module(f"opsdesk.{info.name}.tests")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"opsdesk.{info.name}.tests"):
                continue
            raise
        for sub in sorted(pkgutil.iter_modules(tests.__path__), key=lambda m: m.name):
            if sub.name == "api_access" or sub.name.startswith("api_access_"):
                found.append(importlib.import_module(f"{tests.__name__}.{sub.name}"))
    return found
