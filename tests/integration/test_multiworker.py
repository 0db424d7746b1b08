"""Two real server processes on one PostgreSQL database and one Redis share all state."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.mailsink import MailSink, code_in
from tests.pg import Cluster
from tests.servers import Server, base_env
from tests.softauthn import SoftAuthenticator

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def two_servers(
    tmp_path: Path, postgres: Cluster, redis_url: str, mail_sink: MailSink
) -> Iterator[tuple[Server, Server]]:
    subprocess.run(["redis-cli", "-u", redis_url, "FLUSHALL"], check=True, capture_output=True)
    name = f"mw_{uuid.uuid4().hex[:12]}"
    postgres.psql(f"CREATE DATABASE {name} TEMPLATE keyfob_template")
    first = Server(folder=tmp_path / "a", env={})
    env = base_env(
        tmp_path,
        site_url=first.url,
        smtp_url=mail_sink.url,
        database_url=postgres.url(name),
        redis_url=redis_url,
        rate_limits='{"send_code:ip": "6 per hour"}',
        code_resend_seconds="0",
    )
    first.env.update(env)
    second = Server(folder=tmp_path / "b", env=env)
    first.start()
    second.start()
    yield first, second
    first.stop()
    second.stop()


def token(client: httpx.Client, url: str) -> str:
    found = CSRF_META.search(client.get(url).text)
    assert found
    return found.group(1)


def sign_up(
    client: httpx.Client, first: Server, second: Server, sink: MailSink, email: str
) -> None:
    client.post(
        f"{first.url}/register",
        data={"email": email, "csrf_token": token(client, f"{first.url}/register")},
    )
    code = code_in(sink.wait_for(email))
    done = client.post(
        f"{second.url}/code", data={"code": code, "csrf_token": token(client, f"{second.url}/code")}
    )
    assert done.status_code == 303, done.text


def test_state_lives_in_the_database_and_redis_not_in_a_process(
    two_servers: tuple[Server, Server], mail_sink: MailSink
) -> None:
    first, second = two_servers
    authenticator = SoftAuthenticator()
    with httpx.Client() as browser, httpx.Client() as other_browser:
        sign_up(browser, first, second, mail_sink, "ann@example.org")

        csrf = token(browser, f"{first.url}/account/passkeys")
        options = browser.post(
            f"{first.url}/account/passkeys/options", headers={"X-CSRFToken": csrf}, json={}
        )
        added = browser.post(
            f"{second.url}/account/passkeys/verify",
            headers={"X-CSRFToken": csrf},
            json=authenticator.create(options.json(), origin=first.url),
        )
        assert added.status_code == 200, "a challenge issued by one server verifies on the other"

        csrf = token(other_browser, f"{second.url}/login")
        options = other_browser.post(
            f"{second.url}/login/passkey/options", headers={"X-CSRFToken": csrf}, json={}
        )
        signed_in = other_browser.post(
            f"{first.url}/login/passkey/verify",
            headers={"X-CSRFToken": csrf},
            json=authenticator.get(options.json(), origin=first.url),
        )
        assert signed_in.status_code == 200
        assert other_browser.get(f"{second.url}/account").status_code == 200

        revoked = browser.post(
            f"{first.url}/account/sessions/revoke-others",
            data={"csrf_token": token(browser, f"{first.url}/account")},
        )
        assert revoked.status_code == 303
        refused = other_browser.get(f"{second.url}/account")
        assert refused.status_code == 303 and refused.headers["location"] == "/login"


def test_rate_limit_counts_across_servers_and_each_mail_goes_once(
    two_servers: tuple[Server, Server], mail_sink: MailSink
) -> None:
    first, second = two_servers
    statuses = []
    with httpx.Client() as browser:
        for n in range(7):
            server = (first, second)[n % 2]
            response = browser.post(
                f"{server.url}/register",
                data={
                    "email": f"u{n}@example.org",
                    "csrf_token": token(browser, f"{server.url}/register"),
                },
            )
            statuses.append(response.status_code)
    assert statuses == [303] * 6 + [429]
    for n in range(6):
        mail_sink.wait_for(f"u{n}@example.org")
    time.sleep(1.0)
    assert [len(mail_sink.to(f"u{n}@example.org")) for n in range(6)] == [1] * 6
