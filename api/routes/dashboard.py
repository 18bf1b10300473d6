"""`GET /dashboard`: the analytics page (static HTML, CSS and JS from `api/static/`).

It reads only `POST /api/query` and `GET /api/projects` (the selector's names and each
project's timezone), with the admin token or a read key pasted into the page's
form and held in the page's memory only (never in a URL: browsers keep URLs in their history,
so a `#key=` link does not sign in), so the page itself needs no credential and carries no
data. Everything it shows came from the open internet; it renders values as text, and this CSP
forbids inline script and any origin but ours, so even a missed escape could not run.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.routes.assets import asset

router = APIRouter()

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": DASHBOARD_CSP,
    "Cache-Control": "no-cache",  # revalidated by ETag: a release shows at once
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page(request: Request) -> Response:
    return asset("dashboard.html", "text/html; charset=utf-8").response(request, HEADERS)


@router.get("/dashboard/app.js", include_in_schema=False)
async def dashboard_script(request: Request) -> Response:
    return asset("dashboard.js", "text/javascript; charset=utf-8").response(request, HEADERS)


@router.get("/dashboard/app.css", include_in_schema=False)
async def dashboard_styles(request: Request) -> Response:
    return asset("dashboard.css", "text/css; charset=utf-8").response(request, HEADERS)
