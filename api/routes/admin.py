"""The admin API: teams, projects and keys at run time, erasures and suppressions
(`Authorization: Bearer <ADMIN_TOKEN>`).

Every change is one Redis transaction (shared.registry.store); this process sees it at once,
every other API process within a second (shared.registry.view). The token is checked (and
failed guesses throttled) before a byte of the body is read; every error is `{"error": ...}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from api.auth import check_admin
from api.reads import read_side
from api.responses import ErrorBody, error
from api.state import AppState, app_state
from shared.lifecycle.erasures import Erasure, ErasureIn, ErasureStore
from shared.registry.model import (
    ID_PATTERN,
    CreatedKey,
    KeyIn,
    Project,
    ProjectIn,
    ProjectPatch,
    Team,
    TeamIn,
)
from shared.registry.store import RegistryError, RegistryStore

router = APIRouter(prefix="/api/admin", tags=["admin"])
M = TypeVar("M", bound=BaseModel)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 429, 503)
}
ProjectId = Annotated[str, Path(pattern=ID_PATTERN)]
TeamId = Annotated[str, Path(pattern=ID_PATTERN)]
OptionalId = Annotated[str | None, Query(pattern=ID_PATTERN)]


State = Annotated[AppState, Depends(app_state)]


async def _run(state: AppState, work: Callable[[RegistryStore], Any], status: int = 200) -> Response:
    """`work` on the registry, off the event loop; its answer, or the error in the contract's shape."""
    view = state.access.registry
    try:
        result = await run_in_threadpool(work, view.store)
    except RegistryError as exc:
        return error(exc.status, exc.message)
    except RedisError as exc:
        return error(503, f"registry unavailable ({type(exc).__name__})", headers={"Retry-After": "1"})
    await run_in_threadpool(view.refresh)  # this process sees the change at once
    if status == 204:
        return Response(status_code=204)
    body = result.model_dump() if isinstance(result, BaseModel) else result
    return JSONResponse(body, status_code=status)


async def _read(request: Request, model: type[M]) -> M:
    """The body as `model`, within API_MAX_BODY_BYTES; a bad one raises its 4xx. Called only
    once the token was checked, so an anonymous client gets no byte read."""
    return await read_side(request).body(request, model)


@router.post("/teams", status_code=201, response_model=Team, responses=_ERRORS, summary="Create a team")
async def create_team(request: Request, state: State) -> Response:
    if denied := check_admin(request, state):
        return denied
    body = await _read(request, TeamIn)
    return await _run(state, lambda store: store.create_team(body), 201)


@router.get("/teams", responses=_ERRORS, summary="List the teams")
async def list_teams(request: Request, state: State) -> Response:
    if denied := check_admin(request, state):
        return denied
    return await _run(state, lambda store: {"teams": [t.model_dump() for t in store.teams()]})


@router.post(
    "/projects", status_code=201, response_model=Project, responses=_ERRORS, summary="Create a project"
)
async def create_project(request: Request, state: State) -> Response:
    if denied := check_admin(request, state):
        return denied
    body = await _read(request, ProjectIn)
    return await _run(state, lambda store: store.create_project(body), 201)


@router.get("/projects", responses=_ERRORS, summary="List the projects (of one team)")
async def list_projects(request: Request, state: State, team_id: OptionalId = None) -> Response:
    if denied := check_admin(request, state):
        return denied
    return await _run(state, lambda store: {"projects": [p.model_dump() for p in store.projects(team_id)]})


@router.get("/projects/{project_id}", response_model=Project, responses=_ERRORS, summary="One project")
async def get_project(request: Request, state: State, project_id: ProjectId) -> Response:
    if denied := check_admin(request, state):
        return denied
    return await _run(state, lambda store: store.project(project_id))


@router.patch("/projects/{project_id}", response_model=Project, responses=_ERRORS, summary="Change a project")
async def update_project(request: Request, state: State, project_id: ProjectId) -> Response:
    if denied := check_admin(request, state):
        return denied
    patch = await _read(request, ProjectPatch)
    return await _run(state, lambda store: store.update_project(project_id, patch))


@router.delete(
    "/projects/{project_id}",
    responses=_ERRORS,
    summary="Remove a project from the registry and revoke its keys; with erase=true, erase its events too",
)
async def delete_project(request: Request, state: State, project_id: ProjectId, erase: bool = False) -> Response:
    """The project's record; with `erase=true`, `{"project": …, "erasure": …}`: an erasure of
    every event of the project (GET /api/admin/erasures/{id} follows it to `done`)."""
    if denied := check_admin(request, state):
        return denied
    if not erase:
        return await _run(state, lambda store: store.delete_project(project_id))

    def erase_and_delete(store: RegistryStore) -> dict[str, Any]:
        erasure = erasure_store(state).request_project(project_id)  # checks the project exists
        project = store.delete_project(project_id)
        return {"project": project.model_dump(), "erasure": erasure.model_dump()}

    return await _run(state, erase_and_delete, 202)


@router.post(
    "/projects/{project_id}/keys",
    status_code=201,
    response_model=CreatedKey,
    responses=_ERRORS,
    summary="Create a project key (the secret is answered once)",
)
async def create_project_key(request: Request, state: State, project_id: ProjectId) -> Response:
    if denied := check_admin(request, state):
        return denied
    body = await _read(request, KeyIn)
    return await _run(state, lambda store: store.create_key(body, project_id=project_id), 201)


@router.post(
    "/teams/{team_id}/keys",
    status_code=201,
    response_model=CreatedKey,
    responses=_ERRORS,
    summary="Create a team key: read or stats over every project of the team",
)
async def create_team_key(request: Request, state: State, team_id: TeamId) -> Response:
    if denied := check_admin(request, state):
        return denied
    body = await _read(request, KeyIn)
    return await _run(state, lambda store: store.create_key(body, team_id=team_id), 201)


@router.get("/keys", responses=_ERRORS, summary="List the keys, without their secrets")
async def list_keys(
    request: Request, state: State, team_id: OptionalId = None, project_id: OptionalId = None
) -> Response:
    def listed(store: RegistryStore) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [k.model_dump() for k in store.keys(team_id, project_id)]}

    if denied := check_admin(request, state):
        return denied
    return await _run(state, listed)


@router.delete("/keys/{key_id}", status_code=204, responses=_ERRORS, summary="Revoke a key")
async def revoke_key(request: Request, state: State, key_id: Annotated[str, Path(max_length=64)]) -> Response:
    if denied := check_admin(request, state):
        return denied
    return await _run(state, lambda store: store.revoke_key(key_id), 204)


def erasure_store(state: AppState) -> ErasureStore:
    return ErasureStore.for_settings(state.redis, state.settings)


ErasureId = Annotated[str, Path(max_length=64)]


@router.post(
    "/erasures",
    status_code=202,
    response_model=Erasure,
    responses=_ERRORS,
    summary="Erase a subject's events everywhere: the store, the queue, retries, dead letters",
)
async def request_erasure(request: Request, state: State) -> Response:
    """Answered once the request is durable in Redis (status `pending`); from then on no writer
    stores the subject's events received before it. A worker runs it to `done`."""
    if denied := check_admin(request, state):
        return denied
    body = await _read(request, ErasureIn)
    return await _run(state, lambda _: erasure_store(state).request(body), 202)


@router.get("/erasures", responses=_ERRORS, summary="The erasure log (subjects as keyed hashes only)")
async def list_erasures(request: Request, state: State) -> Response:
    if denied := check_admin(request, state):
        return denied
    return await _run(state, lambda _: {"erasures": [e.model_dump() for e in erasure_store(state).all()]})


@router.get("/erasures/{erasure_id}", response_model=Erasure, responses=_ERRORS, summary="One erasure")
async def get_erasure(request: Request, state: State, erasure_id: ErasureId) -> Response:
    if denied := check_admin(request, state):
        return denied
    return await _run(state, lambda _: erasure_store(state).get(erasure_id))


@router.get("/suppressions", responses=_ERRORS, summary="Subjects whose events are dropped at the API")
async def list_suppressions(request: Request, state: State) -> Response:
    if denied := check_admin(request, state):
        return denied
    return await _run(
        state, lambda _: {"suppressions": [s.model_dump() for s in erasure_store(state).suppressions()]}
    )


@router.delete("/suppressions/{suppression_id}", status_code=204, responses=_ERRORS, summary="Lift a suppression")
async def lift_suppression(request: Request, state: State, suppression_id: ErasureId) -> Response:
    if denied := check_admin(request, state):
        return denied
    return await _run(state, lambda _: erasure_store(state).lift(suppression_id), 204)
