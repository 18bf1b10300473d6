"""Response bodies exactly as the contract (`shared/spec/track-api.md`) spells them."""

from __future__ import annotations

from typing import Literal

from fastapi.responses import JSONResponse
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


def error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)
