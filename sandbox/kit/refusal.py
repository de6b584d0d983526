"""A request a stand-in refuses, and the JSON-body reading its control and API routes share.

RxScale, Shopify and Photon answer a refusal with an HTTP status and a JSON body; each app
turns :class:`Refusal` into that answer. Konnektive answers every error with HTTP 200 and
``{"result": "ERROR"}``: it keeps its own.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request


class Refusal(Exception):
    """A request the stand-in refuses: HTTP status and the JSON body to answer with."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        said = next((body[k] for k in ("error", "errors", "description") if body.get(k)), None)
        super().__init__(status_code if said is None else said)
        self.status_code = status_code
        self.body = body


async def json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body where ``optional``), else 400."""
    raw = await request.body()
    if not raw and optional:
        return {}
    try:
        body = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refusal(400, {"error": "the request body is not valid JSON"}) from None
    if not isinstance(body, dict):
        raise Refusal(400, {"error": "the request body must be a JSON object"})
    return body


def validation_refusal(exc: ValidationError) -> Refusal:
    """A body that is JSON but not what the route takes: 422 with each field's complaint."""
    details = [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in exc.errors()
    ]
    return Refusal(422, {"error": "validation failed", "details": details})
