"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.reads import read_side
from api.state import AppState, app_state
from shared.query.sql import Statement

router = APIRouter()


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz", summary="Redis and the store answer", responses={503: {"description": "A dependency is down"}}
)
def readyz(request: Request, state: Annotated[AppState, Depends(app_state)]) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        state.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down ({type(exc).__name__})"
    try:
        read_side(request).engine.rows(Statement("SELECT 1"))
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"down ({type(exc).__name__})"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503
    )
