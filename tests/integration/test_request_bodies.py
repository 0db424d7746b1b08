"""No request body makes a POST route answer 5xx.

Guaranteed: every state-changing route of the site (`keyfob.web.pages.routers`) and every route of
the back office that accepts a POST (the built app's mounts) answers each body below with a
status under 500 and no traceback in the page: JSON where a form is expected, a form where
JSON is expected, broken multipart, bytes that are not UTF-8, a 1 MB field (a 4xx), no body at
all, and bodies drawn by hypothesis under right and wrong content types. Each route is driven
signed out without a token; in a full passkey session with a valid token in the header, so
the handlers behind the guards read the body; and, for the back office, as staff signed in
with a passkey and holding its token. After the bad bodies the same browser still works.

Routes are found from the app, so a new route is covered without editing this module. Path
parameters get real values: the signed-in account's passkey and session for the site; the
users view for {identity} and the oldest row of the path's view for {pk} in the back office
(with the fixtures' order, the member's, never the staff member's own). A route that signs the
browser out or deletes its passkey or account is fine: after any request the app did not
refuse, the browser is checked and, if needed, signed in again, so every body meets the
handler in the state it was meant for.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from keyfob.admin.views import VIEWS
from keyfob.auth.throttle import DEFAULT_RATES
from keyfob.models import Passkey, SignInSession
from keyfob.settings import Settings
from keyfob.web.pages import routers
from keyfob.web.runtime import Runtime
from tests.conftest import CSRF_META, SITE, csrf_from
from tests.integration.test_admin_support import (
    MEMBER,
    admin_post,
    admin_token,
    member,
    staff,
    user_named,
)
from tests.softauthn import SoftAuthenticator

__all__ = ["member", "staff"]

Step = Callable[..., Awaitable[Any]]
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class Body:
    kind: str
    content: bytes | None = None
    content_type: str | None = None
    streamed: bool = False
    refused: bool = False  # must be answered with a 4xx


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
BROKEN_PART = b'--fuzz\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\nx\r\n'

FIXED = (
    Body("json, empty", b"", JSON),
    Body("json, `{`", b"{", JSON),
    Body("json, []", b"[]", JSON),
    Body("json, 5", b"5", JSON),
    Body('json, "x"', b'"x"', JSON),
    Body('json, {"id": 5}', b'{"id": 5}', JSON),
    Body("json, array of objects", b'[{"id": 5}, {"type": "public-key"}]', JSON),
    Body("json, huge number", b"1e999999", JSON),
    Body("json, invalid utf-8", b'{"id": "\xff\xfe\xc3("}', JSON),
    Body("form where json is expected", b"id=5&type=public-key&response=x", FORM),
    Body("form, invalid utf-8", b"email=\xff\xfe%ff&csrf_token=\xc3(&code=\x80", FORM),
    Body("multipart without boundary", BROKEN_PART, MULTIPART),
    Body("multipart, broken boundary", BROKEN_PART, f"{MULTIPART}; boundary=other"),
    Body("multipart, empty boundary", BROKEN_PART, f"{MULTIPART}; boundary="),
    Body("multipart, unterminated", BROKEN_PART[:-2], f"{MULTIPART}; boundary=fuzz"),
    Body("form, 1 MB field", b"email=" + b"a" * MEGABYTE, FORM, refused=True),
    Body("json, 1 MB field", b'{"id": "' + b"a" * MEGABYTE + b'"}', JSON, refused=True),
    # No Content-Length: only a handler that reads it meets the limit; one that does not may act.
    Body("form, 1 MB field, streamed", b"email=" + b"a" * MEGABYTE, FORM, streamed=True),
    Body("no body"),
)

CONTENT_TYPES = (
    None,
    "",
    JSON,
    "application/json; charset=utf-16",
    FORM,
    "application/x-www-form-urlencoded; charset=latin-1",
    MULTIPART,
    f"{MULTIPART}; boundary=fuzz",
    f"{MULTIPART}; boundary=",
    "multipart/mixed; boundary=fuzz",
    "text/plain",
    "text/html; charset=utf-8",
    "application/xml",
    "application/octet-stream",
    "*/*",
    "garbage",
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
fields = st.dictionaries(
    st.sampled_from(["csrf_token", "email", "code", "name", "token", "lang", "next", "is_staff"])
    | st.text(max_size=8),
    st.text(max_size=30),
    max_size=4,
)


def cut(content: bytes) -> str:
    return f"{content!r}" if len(content) <= 40 else f"{content[:40]!r}... ({len(content)} bytes)"


def multipart(parts: Mapping[str, str], boundary: str) -> bytes:
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in parts.items()
    ]
    return ("".join(chunks) + f"--{boundary}--\r\n").encode("utf-8", "surrogatepass")


payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100).map(lambda text: text.encode("utf-8", "surrogatepass")),
    json_values.map(lambda value: json.dumps(value).encode()),
    fields.map(lambda parts: urlencode(parts).encode()),
    st.builds(multipart, fields, st.sampled_from(["fuzz", "other", "", "a" * 80])),
)
drawn_bodies = st.builds(
    lambda content_type, content: Body(
        f"drawn: {content_type!r}, {cut(content)}", content, content_type
    ),
    st.sampled_from(CONTENT_TYPES),
    payloads,
)


def draw(strategy: st.SearchStrategy[Body], count: int) -> list[Body]:
    """`count` examples of `strategy`, drawn by hypothesis outside any test of its own."""
    found: list[Body] = []

    @hsettings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def keep(body: Body) -> None:
        found.append(body)

    keep()
    return found


@pytest.fixture(scope="module")
def bodies() -> list[Body]:
    return [*FIXED, *draw(drawn_bodies, 25)]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Rate limits out of the way: a 429 would be fine, but the handlers must be reached."""
    relaxed = {name: "1000000 per minute" for name in DEFAULT_RATES}
    return settings.model_copy(update={"rate_limits": relaxed})


@pytest.fixture
async def client(
    app_and_runtime: tuple[Starlette, Runtime],
) -> AsyncIterator[httpx.AsyncClient]:
    """The conftest's browser, but one that sees a 500 as a response, not as an exception."""
    transport = httpx.ASGITransport(app=app_and_runtime[0], raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as c:
        yield c


def site_paths(settings: Settings) -> list[str]:
    return sorted(
        route.path
        for router in routers(settings)
        for route in router.routes
        if isinstance(route, Route) and WRITES & (route.methods or set())
    )


def mounted_paths(app: Starlette) -> list[str]:
    """Routes of the mounted apps (the back office) that change state."""
    return sorted(
        mount.path + route.path
        for mount in app.routes
        if isinstance(mount, Mount)
        for route in mount.routes
        if isinstance(route, Route) and WRITES & (route.methods or set())
    )


def fill(path: str, values: Mapping[str, str]) -> str:
    """Path parameters with the given values; one without a value gets 1."""
    return PARAM.sub(lambda m: values.get(m.group(1), "1"), path)


def admin_targets(paths: Iterable[str], rows: Mapping[str, str]) -> list[str]:
    """{identity} as the first view (the users), {pk} as a real row of the view in the path."""
    first = next(iter(rows))
    targets = []
    for path in paths:
        view = first if "{identity}" in path else path.removeprefix("/admin/").split("/")[0]
        targets.append(fill(path, {"identity": view, "pk": rows.get(view, "1")}))
    return targets


async def first_rows(runtime: Runtime) -> dict[str, str]:
    """Each back-office view's identity, and the primary key of its model's oldest row."""
    rows = {}
    async with runtime.sessionmaker() as db:
        for view in VIEWS:
            key = inspect(view.model).primary_key[0]
            rows[view.identity] = str(await db.scalar(select(func.min(key))))
    return rows


class Visitor(Protocol):
    """A browser in one state: `ready` makes sure of the state and returns its headers;
    `changed` says a request went through, so the state must be checked before the next."""

    name: str
    client: httpx.AsyncClient

    @property
    def values(self) -> Mapping[str, str]: ...

    async def ready(self) -> dict[str, str]: ...

    def changed(self) -> None: ...


@dataclass
class SignedOut:
    client: httpx.AsyncClient
    name: str = "signed out"
    values: Mapping[str, str] = field(default_factory=dict)

    async def ready(self) -> dict[str, str]:
        self.client.cookies.clear()
        return {}

    def changed(self) -> None:
        pass


@dataclass
class Member:
    """A full passkey session with the site's token. When a route ended it, the cheapest way
    back: sign in again with the passkey, add a new passkey, or sign up a new account."""

    client: httpx.AsyncClient
    runtime: Runtime
    sign_up: Step
    add_passkey: Step
    passkey_sign_in: Step
    deliver: Step
    name: str = "full passkey session"
    email: str = ""
    authenticator: SoftAuthenticator = field(default_factory=SoftAuthenticator)
    values: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] | None = None
    accounts: Iterator[int] = field(default_factory=itertools.count)

    async def ready(self) -> dict[str, str]:
        if self.headers is None:
            page = await self.client.get("/account/passkeys")
            if not self.intact(page):
                await self.restore(page)
                page = await self.client.get("/account/passkeys")
                assert self.intact(page), page.text
            found = CSRF_META.search(page.text)
            assert found
            self.headers = {"X-CSRFToken": found.group(1)}
        return self.headers

    def changed(self) -> None:
        self.headers = None

    def intact(self, page: httpx.Response) -> bool:
        passkey = self.values.get("passkey_id")
        return page.status_code == 200 and f"/account/passkeys/{passkey}/" in page.text

    async def restore(self, page: httpx.Response) -> None:
        if page.status_code == 200:
            await self.add(SoftAuthenticator())
        elif (await self.passkey_sign_in(self.authenticator)).status_code != 200:
            await self.new_account()

    async def new_account(self) -> None:
        while (done := await self.deliver()).sent or done.failed:
            pass  # the routes may have queued more mail than the sign-up's one delivery pass
        self.client.cookies.clear()
        self.email = f"body{next(self.accounts)}@example.org"
        await self.sign_up(self.email)
        await self.add(SoftAuthenticator())

    async def add(self, authenticator: SoftAuthenticator) -> None:
        assert (await self.add_passkey(authenticator)).status_code == 200
        self.authenticator = authenticator
        user = await user_named(self.runtime, self.email)
        async with self.runtime.sessionmaker() as db:
            passkey = await db.scalar(
                select(func.min(Passkey.id)).where(Passkey.user_id == user.id)
            )
            session = await db.scalar(
                select(func.min(SignInSession.id)).where(SignInSession.user_id == user.id)
            )
        self.values = {"passkey_id": str(passkey), "session_id": str(session)}


@dataclass
class Staff:
    """Staff signed in with a passkey, with the back office's token; signed in again, with a
    new token, when a route (sign out, a revoked session) ended the sign-in."""

    client: httpx.AsyncClient
    authenticator: SoftAuthenticator
    passkey_sign_in: Step
    name: str = "staff"
    values: Mapping[str, str] = field(default_factory=dict)
    token: str = ""
    sure: bool = False

    async def ready(self) -> dict[str, str]:
        if not self.sure and (await self.client.get("/account")).status_code != 200:
            assert (await self.passkey_sign_in(self.authenticator)).status_code == 200
            self.token = ""
        if not self.token:
            self.token = await admin_token(self.client)
        self.sure = True
        return {"X-CSRF-Token": self.token, "Origin": SITE, "Sec-Fetch-Site": "same-origin"}

    def changed(self) -> None:
        self.sure = False


async def stream(content: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(content), 64 * 1024):
        yield content[start : start + 64 * 1024]


async def send(
    client: httpx.AsyncClient, path: str, body: Body, headers: dict[str, str]
) -> httpx.Response:
    if body.content_type is not None:
        headers = {**headers, "Content-Type": body.content_type}
    content = stream(body.content or b"") if body.streamed else body.content
    return await client.post(path, content=content, headers=headers)


def fault(response: httpx.Response, body: Body) -> bool:
    """A 5xx or a traceback; for a body that must be refused, anything but a 4xx."""
    if body.refused and not 400 <= response.status_code < 500:
        return True
    return response.status_code >= 500 or "Traceback" in response.text


async def drive(visitor: Visitor, paths: Iterable[str], bodies: list[Body]) -> list[str]:
    """Every body to every path, each from a browser in its state and with the path's
    parameters filled from it; the faults, one a line. A refused request (4xx, 5xx) changed
    nothing, so only after any other is the browser checked again."""
    faults = []
    for path in paths:
        for body in bodies:
            headers = await visitor.ready()
            target = fill(path, visitor.values)
            response = await send(visitor.client, target, body, headers)
            if response.status_code < 400:
                visitor.changed()
            if fault(response, body):
                faults.append(f"{visitor.name} | {target} | {body.kind} | {response.status_code}")
    return faults


def report(faults: list[str]) -> str:
    heading = "state | route | body | status: a 5xx, a traceback, or a big body let through"
    return f"{len(faults)} answers were wrong.\n{heading}\n" + "\n".join(faults)


async def test_signed_out_without_a_token(
    client: httpx.AsyncClient, app_and_runtime: tuple[Starlette, Runtime], bodies: list[Body]
) -> None:
    app, runtime = app_and_runtime
    paths = site_paths(runtime.settings) + mounted_paths(app)
    assert "/register" in paths and "/admin/logout" in paths
    targets = admin_targets(paths, {VIEWS[0].identity: "1"})
    faults = await drive(SignedOut(client), targets, bodies)

    token = await csrf_from(client, "/register")
    good = await client.post("/register", data={"email": "ok@example.org", "csrf_token": token})
    assert (good.status_code, good.headers.get("location")) == (303, "/code"), good.text
    assert not faults, report(faults)


@pytest.fixture
async def passkey_member(
    client: httpx.AsyncClient,
    runtime: Runtime,
    sign_up: Step,
    add_passkey: Step,
    passkey_sign_in: Step,
    deliver: Step,
) -> Member:
    """A new account in a full passkey session, in the conftest's browser."""
    member = Member(client, runtime, sign_up, add_passkey, passkey_sign_in, deliver)
    await member.new_account()
    return member


async def test_in_a_full_passkey_session_with_a_token(
    client: httpx.AsyncClient,
    runtime: Runtime,
    add_passkey: Step,
    passkey_member: Member,
    bodies: list[Body],
) -> None:
    member = passkey_member
    faults = await drive(member, site_paths(runtime.settings), bodies)

    await member.ready()
    assert (await client.get("/account")).status_code == 200
    assert (await add_passkey(SoftAuthenticator())).status_code == 200, "a new passkey still works"
    assert not faults, report(faults)


async def test_in_the_back_office_as_staff(
    client: httpx.AsyncClient,
    app_and_runtime: tuple[Starlette, Runtime],
    staff: SoftAuthenticator,
    passkey_sign_in: Step,
    bodies: list[Body],
) -> None:
    app, runtime = app_and_runtime
    targets = admin_targets(mounted_paths(app), await first_rows(runtime))
    assert any(target.endswith("/disable") for target in targets)
    faults = await drive(Staff(client, staff, passkey_sign_in), targets, bodies)

    target = (await user_named(runtime, MEMBER)).id
    enabled = await admin_post(client, f"/admin/user/{target}/enable")
    assert enabled.status_code == 303, enabled.text
    assert (await client.get("/admin/user/list")).status_code == 200
    assert not faults, report(faults)


async def test_in_a_full_passkey_session_with_the_token_in_a_form(
    client: httpx.AsyncClient, runtime: Runtime, passkey_member: Member
) -> None:
    """The token in a form field, not in the header: the CSRF check reads the form, and a
    route that takes JSON still answers with a 4xx, not with a body already read."""
    member = passkey_member
    faults = []
    for path in site_paths(runtime.settings):
        token = (await member.ready())["X-CSRFToken"]
        fields = urlencode({"csrf_token": token, "id": "5", "email": member.email})
        body = Body("form with the page's token", fields.encode(), FORM)
        target = fill(path, member.values)
        response = await send(client, target, body, {"Origin": SITE})
        if response.status_code < 400:
            member.changed()
        if fault(response, body):
            faults.append(f"{member.name} | {target} | {body.kind} | {response.status_code}")
    assert not faults, report(faults)
