"""A passkey sign-in's writes (the session, the sign count, the account's last sign-in, the
audit entry) land with its commit or not at all, and the browser's cookie follows: a sign-in
that fails leaves the browser as it was."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from starlette.requests import Request

from keyfob.models import AuditEvent, Passkey, SignInSession
from keyfob.web import login
from keyfob.web.deps import request_transaction
from keyfob.web.runtime import Runtime
from tests.conftest import SITE, csrf_from
from tests.softauthn import SoftAuthenticator

REFUSE_SIGN_IN_ENTRIES = {
    "sqlite": [
        "CREATE TRIGGER refuse_sign_in BEFORE INSERT ON audit_events "
        "WHEN NEW.kind = 'sign_in' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_sign_in() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.kind = 'sign_in' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_sign_in BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION refuse_sign_in()",
    ],
}


async def sign_in(client: httpx.AsyncClient, authenticator: SoftAuthenticator, page: str):
    token = await csrf_from(client, page)
    headers = {"X-CSRFToken": token}
    options = await client.post("/login/passkey/options", headers=headers, json={})
    assert options.status_code == 200, options.text
    answer = authenticator.get(options.json(), origin=SITE)
    return await client.post("/login/passkey/verify", headers=headers, json=answer)


async def written(runtime: Runtime) -> tuple[int, int, list[int]]:
    """Sessions, sign-in audit entries and sign counts, as committed."""
    async with runtime.sessionmaker() as db:
        return (
            await db.scalar(select(func.count()).select_from(SignInSession)) or 0,
            await db.scalar(select(func.count()).where(AuditEvent.kind == "sign_in")) or 0,
            list(await db.scalars(select(Passkey.sign_count))),
        )


async def test_a_sign_in_that_fails_after_its_writes_leaves_none_of_them(
    client: httpx.AsyncClient,
    enrolled: SoftAuthenticator,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = await written(runtime)

    def broken(target: str | None) -> str:
        raise RuntimeError("a bug after the sign-in's writes")

    monkeypatch.setattr(login, "local_path", broken)
    with pytest.raises(RuntimeError, match="a bug after"):
        await sign_in(client, enrolled, "/login")
    assert await written(runtime) == before
    monkeypatch.undo()
    assert (await client.get("/account")).headers.get("location") == "/login"


async def test_a_sign_in_whose_commit_fails_keeps_the_browsers_session(
    client: httpx.AsyncClient, enrolled: SoftAuthenticator, runtime: Runtime
) -> None:
    assert (await sign_in(client, enrolled, "/login")).status_code == 200
    before = await written(runtime)
    async with runtime.sessionmaker() as db:
        for statement in REFUSE_SIGN_IN_ENTRIES[db.bind.dialect.name]:
            await db.execute(text(statement))
        await db.commit()

    failed = await sign_in(client, enrolled, "/account")
    assert failed.status_code in (500, 503), failed.text
    assert await written(runtime) == before
    account = await client.get("/account")
    assert account.status_code == 200 and "Signed in as" in account.text


async def test_signing_in_again_ends_the_browsers_previous_session(
    client: httpx.AsyncClient, enrolled: SoftAuthenticator, runtime: Runtime, captured
) -> None:
    assert (await sign_in(client, enrolled, "/login")).status_code == 200
    sessions, entries, _ = await written(runtime)
    earlier = await captured(httpx.Cookies(client.cookies))
    assert (await sign_in(client, enrolled, "/account")).status_code == 200

    assert (await client.get("/account")).status_code == 200
    assert (await earlier.get("/account")).headers.get("location") == "/login"
    assert (await written(runtime))[:2] == (sessions, entries + 1) == (1, entries + 1)


@pytest.mark.parametrize(
    "failure",
    [OperationalError("UPDATE", None, ConnectionError("gone")), RuntimeError("a bug")],
    ids=["database error", "bug"],
)
async def test_a_request_whose_writes_do_not_land_leaves_the_cookie_as_it_was(
    app_and_runtime: tuple[object, Runtime], failure: Exception
) -> None:
    """A database error is answered inside the session middleware (503), so its response
    would otherwise carry the session the request had rotated before it failed."""
    cookie = {"sid": "before", "csrf_token": "kept"}
    scope = {"type": "http", "app": app_and_runtime[0], "session": cookie, "method": "POST"}
    with pytest.raises(type(failure)):
        async with request_transaction(Request(scope)) as db:
            await db.execute(select(func.count()).select_from(SignInSession))
            cookie.clear()
            cookie["sid"] = "rotated"
            raise failure
    assert cookie == {"sid": "before", "csrf_token": "kept"}


async def test_a_sign_out_the_server_cannot_record_still_signs_this_device_out(
    client: httpx.AsyncClient, enrolled: SoftAuthenticator, runtime: Runtime
) -> None:
    """The error page gives the browser back nothing the database did not get, but takes
    nothing back that the person gave up: the cookie stays without its session."""
    async with runtime.sessionmaker() as db:
        if db.bind.dialect.name != "postgresql":
            pytest.skip("a refused statement here is a 500, answered before any cookie is set")
        for statement in REFUSE_SIGN_IN_ENTRIES["postgresql"]:
            await db.execute(text(statement.replace("'sign_in'", "'sign_out'")))
        await db.commit()
    assert (await sign_in(client, enrolled, "/login")).status_code == 200
    token = await csrf_from(client, "/account")

    failed = await client.post("/logout", data={"csrf_token": token})
    assert failed.status_code == 503, failed.text
    assert (await client.get("/account")).headers.get("location") == "/login"
