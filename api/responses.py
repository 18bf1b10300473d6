"""Response bodies exactly as the contract (docs/contract.md) spells them."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel


class Tracked(BaseModel):
    success: Literal[True] = True
    message: Literal["Event tracked successfully"] = "Event tracked successfully"
    event_id: str


class ErrorBody(BaseModel):
    error: str


class FailureBody(BaseModel):
    error: Literal["Failed to track event"] = "Failed to track event"
    details: str


def json_response(content: Any, status_code: int, headers: dict[str, str] | None = None) -> Response:
    """JSON serialised by orjson: the models above document the shapes; the hot paths build dicts."""
    return Response(
        orjson.dumps(content), status_code=status_code, headers=headers, media_type="application/json"
    )


DROPPED_HEADER = "X-Trackhouse-Dropped"


def tracked(event_id: str, dropped: str | None = None) -> Response:
    """The contract's 201. A dropped event (e.g. a bot) gets the same body; the header says why."""
    headers = {DROPPED_HEADER: dropped} if dropped else None
    body = {"success": True, "message": "Event tracked successfully", "event_id": event_id}
    return json_response(body, 201, headers=headers)


def error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


BODY_MODELS: dict[str, type[BaseModel]] = {}
"""The models of bodies routes read themselves (`json_body_doc`); `document_body_models` adds
their schemas to the OpenAPI document, as FastAPI does for the bodies it reads."""


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its JSON body itself (after its auth check)."""
    BODY_MODELS[model.__name__] = model
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
