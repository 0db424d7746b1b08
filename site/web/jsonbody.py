"""JSON request bodies: anything that is not a JSON object is a 400, never a 500."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from keyfob.errors import MalformedRequest


async def read_json(request: Request) -> dict[str, Any]:
    try:
        value = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest from exc
    if not isinstance(value, dict):
        raise MalformedRequest
    return value
