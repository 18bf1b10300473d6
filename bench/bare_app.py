"""The ceiling: FastAPI that reads the body, json-parses it and answers 201. No validation, no I/O.

Served by uvicorn like the others (one process, uvloop, httptools, no access log), so the
gap between this and any other contender is the cost of what that contender does.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/api/events/track")
async def track(request: Request) -> JSONResponse:
    event = json.loads(await request.body())
    return JSONResponse(
        {"success": True, "message": "Event tracked successfully", "event_id": event.get("event_id")},
        status_code=201,
    )


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
