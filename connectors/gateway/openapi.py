"""The OpenAPI document says what the gateway really answers (checked by tests/unit/test_openapi_contract.py).

FastAPI documents its own validation error (`HTTPValidationError`, a list of pydantic errors) for every route
with parameters; the gateway answers those with `{"detail": {"code", "message"}}` (errors.py) instead. Here
the generated document is corrected once, for every route, whoever wrote it:

- every 4xx/5xx answer is the one error shape (`ErrorResponse`); FastAPI's validation schemas are removed;
- a route that reads a JSON body also documents 400 (invalid_json, invalid_encoding, invalid_text) and
  413 (body_too_large), which the body guard (bodies.py) answers before the route runs;
- a route with parameters documents 422 (invalid_request), a route with a path parameter 404, a staff route
  (auth.STAFF_PATH_PREFIXES) 401 and 403 (a rate-limited route declares its 429 itself).
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
ERROR_SCHEMAS = {
    "ErrorDetail": {"title": "ErrorDetail", "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string", "title": "Code"},
                                   "message": {"type": "string", "title": "Message"}}},
    "ErrorResponse": {"title": "ErrorResponse", "type": "object", "required": ["detail"],
                      "properties": {"detail": {"$ref": "#/components/schemas/ErrorDetail"}}},
}
DESCRIPTIONS = {
    "400": "invalid_json, invalid_encoding or invalid_text: the body could not be read",
    "401": "not_authenticated: no valid staff session",
    "403": "forbidden (role), csrf_failed, or another error named by detail.code",
    "404": "not found (detail.code names what)",
    "413": "the body or the message is too long",
    "422": "invalid_request (the fields named in the message) or another refused value",
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": dict(ERROR_REF)}}}


def _is_staff(method: str, path: str) -> bool:
    from connectors.gateway.auth import PUBLIC_STAFF_ROUTES, is_staff_path

    return is_staff_path(path) and (method.upper(), path) not in PUBLIC_STAFF_ROUTES


def correct(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI-generated document in place (see the module docstring) and return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.update(ERROR_SCHEMAS)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            params = operation.get("parameters") or []
            needed = set()
            if operation.get("requestBody"):
                needed |= {"400", "413", "422"}
            if params:
                needed.add("422")
            if any(p.get("in") == "path" for p in params):
                needed.add("404")
            if _is_staff(method, path):
                needed |= {"401", "403"}
            for status in needed:
                responses.setdefault(status, _error_response(DESCRIPTIONS[status]))
            for status, response in responses.items():
                if status[:1] in ("4", "5") and isinstance(response, dict):
                    content = response.setdefault("content", {})
                    json_content = content.setdefault("application/json", {})
                    json_content["schema"] = dict(ERROR_REF)
                    if response.get("description") in ("Validation Error", "", None):
                        response["description"] = DESCRIPTIONS.get(status, "error")
    return schema


def install(app: FastAPI) -> None:
    """Serve the corrected document at /openapi.json (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = correct(get_openapi(
                title=app.title, version=app.version, openapi_version=app.openapi_version,
                description=app.description, routes=app.routes, tags=app.openapi_tags, servers=app.servers))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
