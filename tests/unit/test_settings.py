"""Settings refuse what would not work, and say which variable to change."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from keyfob.app import create_app
from keyfob.settings import Settings, describe, unknown_variables

SECRET = "s" * 48


def make(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path, secret_key=SECRET, **values)  # type: ignore[arg-type]


def problem(tmp_path: Path, **values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        make(tmp_path, **values)
    return describe(caught.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8012", "http://[::1]:8012", "https://10.0.0.1"])
def test_an_ip_address_as_the_site_is_refused_with_the_name_to_use(
    tmp_path: Path, url: str
) -> None:
    text = problem(tmp_path, site_url=url)
    assert "passkeys need a domain name" in text
    assert "localhost" in text


def test_a_test_domain_over_https_keeps_mail_in_the_development_mailbox(tmp_path: Path) -> None:
    settings = make(tmp_path, site_url="https://keyfob.test:8443")
    assert settings.dev_mailbox


def test_a_public_site_without_smtp_is_refused(tmp_path: Path) -> None:
    assert "KEYFOB_SMTP_URL is unset" in problem(tmp_path, site_url="https://example.org")


def test_an_error_names_the_variable_not_the_field(tmp_path: Path) -> None:
    text = problem(tmp_path, session_lifetime_days=40)
    assert text.startswith("KEYFOB_SESSION_LIFETIME_DAYS: ")


def test_an_unknown_rate_limit_name_is_refused(tmp_path: Path) -> None:
    text = problem(tmp_path, rate_limits={"send_codes:ip": "60 per hour"})
    assert "KEYFOB_RATE_LIMITS: no rate limit is named 'send_codes:ip'" in text
    assert "send_code:ip" in text


def test_a_rate_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    text = problem(tmp_path, rate_limits={"send_code:ip": "often"})
    assert "KEYFOB_RATE_LIMITS: send_code:ip: 'often' is not a rate" in text


def test_a_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, var_dir=tmp_path, secret_key="x" * 31)
    assert "KEYFOB_SECRET_KEY is too short: use 32+" in describe(caught.value)


def test_a_misspelt_variable_is_found() -> None:
    names = ["PATH", "KEYFOB_SITE_URL", "KEYFOB_SESION_IDLE_DAYS", "keyfob_smtp_url"]
    assert unknown_variables(names) == ["KEYFOB_SESION_IDLE_DAYS"]


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8000", "http://127.0.0.1"])
async def test_a_local_site_opened_by_its_loopback_address_is_sent_to_its_name(
    tmp_path: Path, base_url: str
) -> None:
    settings = make(tmp_path)
    app = create_app(settings, send_mail=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        page = await client.get("/register?next=/account")
        health = await client.get("/healthz")
    await app.state.runtime.engine.dispose()
    assert page.status_code == 308
    assert page.headers["location"] == "http://localhost:8000/register?next=/account"
    assert health.status_code == 200
