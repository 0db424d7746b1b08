"""Request bodies, read in one place: whatever a client sends, a body that is not what the route
takes is a 400 with the site's own error page or JSON, never a 500.

Form routes take `application/x-www-form-urlencoded` or `multipart/form-data` only: JSON, a
missing multipart boundary, undecodable bytes or a broken part are refused before any handler
or form sees them. JSON routes take one JSON object. A body past the size limit is a 413 here
too, so an application mounted inside the site (the back office) answers it, not a 500.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from keyfob.errors import BodyTooLarge, MalformedRequest
from keyfob.web.middleware import BodyTooLargeSignal

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


async def read_json(request: Request) -> dict[str, Any]:
    """A form is refused before its body is read: the CSRF check may already have parsed it,
    and a body is read only once."""
    if is_form(request):
        raise MalformedRequest
    try:
        value = json.loads(await request.body())
    except BodyTooLargeSignal as exc:
        raise BodyTooLarge from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest from exc
    if not isinstance(value, dict):
        raise MalformedRequest
    return value


async def read_form(request: Request) -> FormData:
    """The submitted form; an empty one for a request with no body and no content type."""
    try:
        if not _media_type(request) and not await request.body():
            return FormData()
        if not is_form(request):
            raise MalformedRequest
        form = await request.form()
        for _, value in form.multi_items():
            if isinstance(value, str):
                value.encode("utf-8")
    except BodyTooLargeSignal as exc:
        raise BodyTooLarge from exc
    except (HTTPException, MultiPartException, ValueError, UnicodeError) as exc:
        raise MalformedRequest from exc
    return form


def is_form(request: Request) -> bool:
    return _media_type(request) in FORM_TYPES


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()
