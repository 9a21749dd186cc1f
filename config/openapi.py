"""The OpenAPI schema's account of the one error path (``config.errors``).

Every error under ``/api/`` is ``{"error": <code>, "detail": <French>}`` (``Error``), whoever
answers it: a view, DRF, or ``ApiErrorMiddleware``. drf-spectacular declares the success
answers each view names; this hook adds to every operation the error statuses that path can
give it, so that a client (and tests/test_schemathesis.py) knows every status it may get and
the body that comes with it. What is added, and why:

- every operation: 400 (malformed input: a body, a JSON nested too deep, a filter, a NUL
  character in the query string), 401 (no credential, or one no longer valid), 403 (the role
  may not, or a session write without its CSRF token), 413 (a body past the address's limit),
  503 (the database was busy: nothing written, send it again);
- an operation with a path parameter: 404 (nothing with that id, or nothing the caller may
  see: the same answer);
- a write (POST, PUT, PATCH, DELETE): 409 (the object changed meanwhile, or its state refuses
  the action);
- an operation that takes a body: 415 (a body of another type than the one it takes);
- the token exchange: 429 (the sign-in's throttle and lock).

A status a view declares itself (the basemap's 404 and 416) keeps its description, with the
``Error`` body.
"""

from __future__ import annotations

from typing import Any

# What ``detail`` holds (the schema's own words, in English like the rest of the schema).
_DETAIL_SCHEMA = {"description": "French: a message, a list of messages, or the messages per field.",
                  "anyOf": [{"type": "string"}, {"type": "array"}, {"type": "object"}]}
ERROR_COMPONENT: dict[str, Any] = {
    "type": "object",
    "description": "An error: a stable code and what went wrong, in French (a message, or the "
                   "messages per field).",
    "properties": {
        "error": {"type": "string", "description": "invalid, not_authenticated, forbidden, "
                                                   "not_found, conflict, too_large, throttled…"},
        "detail": _DETAIL_SCHEMA,
    },
    "required": ["error", "detail"],
    "additionalProperties": False,
}

_DESCRIPTIONS = {
    "400": "Malformed input (the body, a filter, a NUL character): nothing was written.",
    "401": "No credential, or one no longer valid.",
    "403": "Not allowed for this role (or a session write without its CSRF token).",
    "404": "Nothing with this id, or nothing the caller may see.",
    "409": "The object changed meanwhile, or its state refuses this action.",
    "413": "The request body is past this address's limit.",
    "415": "A body of a type this address does not take.",
    "429": "Too many failed attempts: wait.",
    "503": "The database was busy: nothing was written, send it again.",
}
_WRITES = {"post", "put", "patch", "delete"}
_THROTTLED = {("/api/auth/token/", "post")}


def add_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_COMPONENT
    answer = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            statuses = ["400", "401", "403", "413", "503"]
            if "{" in path:
                statuses.append("404")
            if method in _WRITES:
                statuses.append("409")
            if "requestBody" in operation:
                statuses.append("415")
            if (path, method) in _THROTTLED:
                statuses.append("429")
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses.setdefault(status, {"description": _DESCRIPTIONS[status], "content": answer})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400 and "content" not in response:
                    response["content"] = answer
    return result
