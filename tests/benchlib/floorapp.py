"""Scenario 4b: the least a passkey sign-in can do and still keep what Keyfob's contract
cannot do without, served like the site (`uvicorn --workers 2`, uvloop + httptools), on the
same PostgreSQL (`create`) or on a SQLite file (`create_sqlite`, scenario 4c):

- a challenge kept on the server, single-use and short-lived (one INSERT, then one
  DELETE ... RETURNING);
- the credential looked up, py_webauthn's verify with user verification required, the user
  handle checked, the sign count stored;
- a session kept on the server (only a digest of its token), in a cookie.

Nothing else: no CSRF, rate limit, audit entry, Host check, security headers, templates,
translation or ORM. It answers the load generator's sign-in exactly as the site does
(/login, /login/passkey/options, /login/passkey/verify), so (4b)/(4) is the highest ratio any
implementation of that contract could reach on this machine. BENCH_FLOOR_DSN names the
database (tables made by `prepare`), BENCH_FLOOR_ORIGIN the expected origin.

On SQLite (BENCH_FLOOR_SQLITE names the file, tables made by `prepare_sqlite`) each worker
keeps one aiosqlite connection in WAL mode, as the site does; the challenge and the passkey are
read and the assertion checked first, and only then does one short write transaction
(BEGIN IMMEDIATE) consume the challenge, store the sign count and open the session: the one
write lock SQLite has is held for those writes alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import aiosqlite
import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    options_to_json,
    verify_authentication_response,
)
from webauthn.helpers.structs import UserVerificationRequirement

SCHEMA = """
CREATE TABLE floor_challenges (
    id text PRIMARY KEY, challenge bytea NOT NULL, expires_at timestamptz NOT NULL);
CREATE TABLE floor_credentials (
    id bytea PRIMARY KEY, public_key bytea NOT NULL, user_handle bytea NOT NULL,
    sign_count bigint NOT NULL);
CREATE TABLE floor_sessions (
    token_hash bytea PRIMARY KEY, credential_id bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
"""


async def prepare(dsn: str, credentials: Iterable[tuple[bytes, bytes, bytes]]) -> None:
    """The tables, and the passkeys as (credential id, COSE public key, user handle)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
        await conn.executemany(
            "INSERT INTO floor_credentials VALUES ($1, $2, $3, 0)", list(credentials)
        )
    finally:
        await conn.close()


def create() -> FastAPI:
    dsn = os.environ["BENCH_FLOOR_DSN"]
    origin = os.environ["BENCH_FLOOR_ORIGIN"]
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pools.append(await asyncpg.create_pool(dsn, min_size=2, max_size=20))
        yield
        await pools[0].close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/login")
    async def login() -> HTMLResponse:
        return HTMLResponse('<meta name="csrf-token" content="-">')

    @app.post("/login/passkey/options")
    async def options() -> JSONResponse:
        challenge = os.urandom(32)
        challenge_id = secrets.token_urlsafe(16)
        async with pools[0].acquire() as conn:
            await conn.execute(
                "INSERT INTO floor_challenges VALUES ($1, $2, now() + interval '5 minutes')",
                challenge_id,
                challenge,
            )
        return _options_response(challenge, challenge_id)

    @app.post("/login/passkey/verify")
    async def verify(request: Request) -> JSONResponse:
        credential = await request.json()
        credential_id = base64url_to_bytes(credential["rawId"])
        token = secrets.token_bytes(32)
        async with pools[0].acquire() as conn, conn.transaction():
            challenge = await conn.fetchval(
                "DELETE FROM floor_challenges WHERE id = $1 AND expires_at > now() "
                "RETURNING challenge",
                request.cookies.get("challenge", ""),
            )
            row = await conn.fetchrow(
                "SELECT public_key, user_handle, sign_count FROM floor_credentials WHERE id = $1",
                credential_id,
            )
            handle = base64url_to_bytes(credential["response"].get("userHandle") or "")
            if challenge is None or row is None or handle != row["user_handle"]:
                return JSONResponse({"error": "refused"}, status_code=400)
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id="localhost",
                expected_origin=origin,
                credential_public_key=row["public_key"],
                credential_current_sign_count=row["sign_count"],
                require_user_verification=True,
            )
            await conn.execute(
                "UPDATE floor_credentials SET sign_count = $2 WHERE id = $1",
                credential_id,
                verified.new_sign_count,
            )
            await conn.execute(
                "INSERT INTO floor_sessions (token_hash, credential_id) VALUES ($1, $2)",
                hashlib.sha256(token).digest(),
                credential_id,
            )
        response = JSONResponse({"verified": True})
        response.set_cookie("session", token.hex(), httponly=True, samesite="lax")
        return response

    return app


SQLITE_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE floor_challenges (
    id text PRIMARY KEY, challenge blob NOT NULL, expires_at real NOT NULL);
CREATE TABLE floor_credentials (
    id blob PRIMARY KEY, public_key blob NOT NULL, user_handle blob NOT NULL,
    sign_count integer NOT NULL);
CREATE TABLE floor_sessions (
    token_hash blob PRIMARY KEY, credential_id blob NOT NULL, created_at real NOT NULL);
"""


async def prepare_sqlite(path: str, credentials: Iterable[tuple[bytes, bytes, bytes]]) -> None:
    """`prepare` for SQLite: the tables and the passkeys in the file at `path`."""
    async with aiosqlite.connect(path) as conn:
        await conn.executescript(SQLITE_SCHEMA)
        await conn.executemany(
            "INSERT INTO floor_credentials VALUES (?, ?, ?, 0)", list(credentials)
        )
        await conn.commit()


def create_sqlite() -> FastAPI:
    path = os.environ["BENCH_FLOOR_SQLITE"]
    origin = os.environ["BENCH_FLOOR_ORIGIN"]
    conns: list[aiosqlite.Connection] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
        await conn.execute("PRAGMA synchronous=NORMAL")
        conns.append(conn)
        yield
        await conn.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    writing = asyncio.Lock()  # one connection: its write transactions one after another

    @app.get("/login")
    async def login() -> HTMLResponse:
        return HTMLResponse('<meta name="csrf-token" content="-">')

    @app.post("/login/passkey/options")
    async def options() -> JSONResponse:
        challenge = os.urandom(32)
        challenge_id = secrets.token_urlsafe(16)
        async with writing:
            await conns[0].execute(
                "INSERT INTO floor_challenges VALUES (?, ?, ?)",
                (challenge_id, challenge, time.time() + 300),
            )
        return _options_response(challenge, challenge_id)

    @app.post("/login/passkey/verify")
    async def verify(request: Request) -> JSONResponse:
        conn = conns[0]
        credential = await request.json()
        credential_id = base64url_to_bytes(credential["rawId"])
        challenge_id = request.cookies.get("challenge", "")
        refused = JSONResponse({"error": "refused"}, status_code=400)
        # each read stepped to its end in one go: no statement left open holds a read
        # snapshot on the shared connection that a write would then have to upgrade
        challenges = await conn.execute_fetchall(
            "SELECT challenge FROM floor_challenges WHERE id = ? AND expires_at > ?",
            (challenge_id, time.time()),
        )
        rows = await conn.execute_fetchall(
            "SELECT public_key, user_handle, sign_count FROM floor_credentials WHERE id = ?",
            (credential_id,),
        )
        challenge = next(iter(challenges), None)
        row = next(iter(rows), None)
        handle = base64url_to_bytes(credential["response"].get("userHandle") or "")
        if challenge is None or row is None or handle != row[1]:
            return refused
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge[0],
            expected_rp_id="localhost",
            expected_origin=origin,
            credential_public_key=row[0],
            credential_current_sign_count=row[2],
            require_user_verification=True,
        )
        token = secrets.token_bytes(32)
        async with writing:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                consumed = await conn.execute_fetchall(
                    "DELETE FROM floor_challenges WHERE id = ? RETURNING id", (challenge_id,)
                )
                if not consumed:
                    await conn.execute("ROLLBACK")
                    return refused
                await conn.execute(
                    "UPDATE floor_credentials SET sign_count = ? WHERE id = ?",
                    (verified.new_sign_count, credential_id),
                )
                await conn.execute(
                    "INSERT INTO floor_sessions VALUES (?, ?, ?)",
                    (hashlib.sha256(token).digest(), credential_id, time.time()),
                )
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        response = JSONResponse({"verified": True})
        response.set_cookie("session", token.hex(), httponly=True, samesite="lax")
        return response

    return app


def _options_response(challenge: bytes, challenge_id: str) -> JSONResponse:
    """The passkey request options for `challenge`, its id in a cookie: the same in both
    floors, so they differ only in their database."""
    made = generate_authentication_options(
        rp_id="localhost",
        challenge=challenge,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    response = JSONResponse(json.loads(options_to_json(made)))
    response.set_cookie("challenge", challenge_id, httponly=True, samesite="lax")
    return response
