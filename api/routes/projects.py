"""GET /api/projects: the projects a read key (or the admin token) reads, by name and timezone,
for the dashboard's project selector. Stats keys may ask: a name is what a dashboard shows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.read_keys import ReadScope
from api.reads import read_scope
from api.routes.query import ERRORS
from api.state import app_state

router = APIRouter()


@router.get("/api/projects", responses=ERRORS, summary="The projects this key reads (name, timezone)")
def list_projects(request: Request, scope: Annotated[ReadScope, Depends(read_scope)]) -> dict[str, Any]:
    registered = app_state(request).access.registry.snapshot.projects
    wanted = sorted(registered if scope.projects is None else scope.projects)
    listed = []
    for project_id in wanted:
        project = registered.get(project_id)
        # A project an environment read key names but the registry does not: its id only.
        listed.append(
            {"project_id": project_id, "name": project.name, "timezone": project.timezone}
            if project is not None
            else {"project_id": project_id, "name": project_id, "timezone": None}
        )
    return {"projects": listed}
