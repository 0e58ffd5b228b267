"""Liveness and readiness probes for load balancers and orchestrators."""

from typing import Any

import msgspec
from litestar import Request, get
from litestar.response import Response
from sqlalchemy import text

from service.db import Database


class Health(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str]


@get(
    "/health/live",
    tags=["health"],
    summary="The process is up",
    cache=False,
    operation_id="health_live",
    opt={"public": True},
)
async def live() -> Health:
    return Health("ok", {})


@get(
    "/health/ready",
    tags=["health"],
    summary="The registry can serve: database and keys",
    operation_id="health_ready",
    opt={"public": True},
)
async def ready(request: Request[Any, Any, Any]) -> Response[Health]:
    checks: dict[str, str] = {}
    database: Database = request.app.state.database
    try:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure to reach the database means not ready
        checks["database"] = f"unavailable ({type(exc).__name__})"
    keyring = request.app.state.keyring
    checks["keys"] = "ok" if keyring is not None and keyring.published else "missing"
    ok = all(value == "ok" for value in checks.values())
    headers = {"Cache-Control": "no-store"}
    if not ok:
        headers["Retry-After"] = "5"
    return Response(
        Health("ok" if ok else "unavailable", checks), status_code=200 if ok else 503, headers=headers
    )
