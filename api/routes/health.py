"""Liveness and readiness probes. /readyz is unauthenticated, so it must stay cheap whatever
the rate: the store is pinged without a read slot (ReadEngine.ping), and each process checks
at most once a second, answering probes in between from the last check."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.reads import read_side
from api.state import AppState, app_state

router = APIRouter()
CHECK_INTERVAL_SECONDS = 1.0


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz", summary="Redis and the store answer", responses={503: {"description": "A dependency is down"}}
)
def readyz(request: Request, state: Annotated[AppState, Depends(app_state)]) -> JSONResponse:
    with state.readiness_lock:  # probes arriving during a check wait for it, not check again
        checked_at, checks = state.readiness or (float("-inf"), {})
        if time.monotonic() - checked_at >= CHECK_INTERVAL_SECONDS:
            checks = _check(request, state)
            state.readiness = (time.monotonic(), checks)
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503
    )


def _check(request: Request, state: AppState) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        state.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down ({type(exc).__name__})"
    try:
        checks["store"] = "ok" if read_side(request).engine.ping() else "down (no answer)"
    except Exception as exc:
        checks["store"] = f"down ({type(exc).__name__})"
    return checks
