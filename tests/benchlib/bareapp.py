"""Scenario 4's baseline: a bare FastAPI endpoint that only runs py_webauthn's
`verify_authentication_response` on one fixed assertion, served like the site
(`uvicorn --workers 2`, uvloop + httptools). The client posts the assertion as JSON, so the
body parse is counted as it is on the site. BENCH_ASSERTION names a JSON file with the
assertion, its challenge, the COSE public key and the origin (see `tests/bench.py`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from webauthn import base64url_to_bytes, verify_authentication_response


def create() -> FastAPI:
    fixed = json.loads(Path(os.environ["BENCH_ASSERTION"]).read_text())
    challenge = base64url_to_bytes(fixed["challenge"])
    public_key = base64url_to_bytes(fixed["public_key"])
    origin = fixed["origin"]
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/verify")
    async def verify(request: Request) -> JSONResponse:
        credential = await request.json()
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id="localhost",
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
        return JSONResponse({"verified": True, "sign_count": verified.new_sign_count})

    return app
