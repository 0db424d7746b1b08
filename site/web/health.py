"""/healthz: 200 only when the site can serve pages: its templates and catalogs were found and
its database answers. A load balancer then never sends people to an install that would answer
every page with an error."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from jinja2 import Environment, TemplateNotFound
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from keyfob.i18n import Catalogs
from keyfob.web.deps import CurrentRuntime

router = APIRouter()


@router.get("/healthz")
async def healthz(runtime: CurrentRuntime) -> JSONResponse:
    if problem := missing_files(runtime.env, runtime.catalogs):
        return JSONResponse({"status": "unavailable", "problem": problem}, status_code=503)
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def missing_files(env: Environment, catalogs: Catalogs) -> str | None:
    """What of the site's own files could not be loaded (Jinja caches a loaded template)."""
    try:
        env.get_template("base.html")
    except TemplateNotFound:
        return "templates not found"
    if catalogs.missing:
        return f"catalogs not found: {', '.join(catalogs.missing)}"
    return None
