"""`GET /t.js`: the browser tracker (`api/static/t.js`, README "Tracker").

Sites on any origin load it with a plain script tag, so it is cacheable by anyone for a day
and revalidated by ETag after that (a release changes the ETag); CORP `cross-origin` lets
pages that require it (COEP) embed it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.routes.assets import asset

router = APIRouter()

TRACKER_FILE = "t.js"
CACHE_SECONDS = 86_400


@router.get("/t.js", summary="The browser tracker script", include_in_schema=False)
async def tracker_script(request: Request) -> Response:
    script = asset(TRACKER_FILE, "text/javascript; charset=utf-8")
    return script.response(
        request,
        {
            "Cache-Control": f"public, max-age={CACHE_SECONDS}",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
        },
    )
