"""All configuration, read from KEYFOB_* environment variables or a `.env` file.

There is no module-level instance: the CLI builds one and hands it to `create_app`.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_HOSTS = {"localhost"}
LOOPBACK_ALIASES = ("127.0.0.1",)
"""Other names a browser on this machine may use for a local site: sent on to the site's URL."""
MIN_SECRET_LENGTH = 32
TESTING_SUFFIX = ".test"
"""RFC 6761's name for testing: such a site needs HTTPS but may keep mail in the dev mailbox."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEYFOB_", env_file=".env", extra="ignore")

    site_url: str = "http://localhost:8000"
    site_name: str = "Keyfob"
    var_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = ""
    smtp_url: str = ""
    mail_from: str = "Keyfob <noreply@localhost>"
    smtp_timeout_seconds: float = 10.0

    code_ttl_minutes: int = Field(default=10, ge=1, le=60)
    code_max_attempts: int = Field(default=5, ge=1, le=20)
    code_resend_seconds: int = Field(default=30, ge=0, le=3600)
    challenge_ttl_minutes: int = Field(default=5, ge=1, le=30)
    # NIST SP 800-63B-4 §2.1.3 (AAL1): re-authenticate at least every 30 days; an idle week ends it.
    session_lifetime_days: int = Field(default=30, ge=1, le=30)
    session_idle_days: int = Field(default=7, ge=1, le=30)
    code_sign_in_is_recovery: bool = True
    recovery_requires_second_factor: bool = True
    reauth_minutes: int = Field(default=5, ge=1, le=60)
    security_notices: str = "all"

    # Lockout of code sign-in (NIST SP 800-63B-4 §3.1.3.2); passkey sign-in is never locked.
    lockout_threshold: int = Field(default=10, ge=3, le=100)
    lockout_window_minutes: int = Field(default=60, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)

    redis_url: str = ""
    rate_limits: dict[str, str] = Field(default_factory=dict)
    trusted_proxies: str = ""
    allowed_hosts: str = ""
    audit_retention_days: int = Field(default=365, ge=1)
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    outbox_max_attempts: int = Field(default=12, ge=1)
    json_body_limit: int = Field(default=64 * 1024, ge=1024)
    # The owner's package built on Keyfob (keyfob.extend): an import name such as "mysite".
    site_package: str = Field(
        default="", pattern=r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$"
    )

    @model_validator(mode="after")
    def _fill_defaults_and_refuse_unsafe(self) -> Self:
        parts = urlsplit(self.site_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"KEYFOB_SITE_URL={self.site_url!r} is not an http(s) origin")
        if _is_ip(parts.hostname):
            local = f"{parts.scheme}://localhost" + (f":{parts.port}" if parts.port else "")
            raise ValueError(
                f"KEYFOB_SITE_URL={self.site_url!r}: passkeys need a domain name, not an IP "
                f"address (on this machine: {local})"
            )
        if not self.is_local and parts.scheme != "https":
            raise ValueError(f"KEYFOB_SITE_URL={self.site_url!r}: a public site must use https")
        if not self.is_local and not self.is_testing and not self.smtp_url:
            raise ValueError("KEYFOB_SMTP_URL is unset: a public site must send real mail")
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.var_dir / 'keyfob.sqlite3'}"
        if not self.secret_key:
            self.secret_key = _load_or_make_secret(self.var_dir / "secret_key")
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"KEYFOB_SECRET_KEY is too short: use {MIN_SECRET_LENGTH}+ random characters"
            )
        return self

    @field_validator("rate_limits")
    @classmethod
    def _known_rate_limits(cls, value: dict[str, str]) -> dict[str, str]:
        from limits import parse_many

        from keyfob.auth.throttle import DEFAULT_RATES

        for name, rate in value.items():
            if name not in DEFAULT_RATES:
                raise ValueError(
                    f"no rate limit is named {name!r} (known: {', '.join(DEFAULT_RATES)})"
                )
            try:
                parse_many(rate)
            except ValueError as exc:
                raise ValueError(f"{name}: {rate!r} is not a rate such as '30 per hour'") from exc
        return value

    @property
    def origin(self) -> str:
        parts = urlsplit(self.site_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def rp_id(self) -> str:
        return urlsplit(self.site_url).hostname or "localhost"

    @property
    def host(self) -> str:
        return urlsplit(self.site_url).netloc

    @property
    def https(self) -> bool:
        return urlsplit(self.site_url).scheme == "https"

    @property
    def is_local(self) -> bool:
        host = self.rp_id
        return host in LOCAL_HOSTS or host.endswith(".localhost")

    @property
    def is_testing(self) -> bool:
        return self.rp_id.endswith(TESTING_SUFFIX)

    @property
    def dev_mailbox(self) -> bool:
        """Mail goes to the console and var/mailbox/ instead of SMTP: only on a local site or
        a .test name (the mailbox page itself only answers on this machine)."""
        return not self.smtp_url and (self.is_local or self.is_testing)

    @property
    def session_cookie(self) -> str:
        return "__Host-keyfob" if self.https else "keyfob"

    @property
    def code_ttl(self) -> timedelta:
        return timedelta(minutes=self.code_ttl_minutes)

    @property
    def reauth_within(self) -> timedelta:
        return timedelta(minutes=self.reauth_minutes)

    @property
    def resend_after(self) -> timedelta:
        return timedelta(seconds=self.code_resend_seconds)

    @property
    def challenge_ttl(self) -> timedelta:
        return timedelta(minutes=self.challenge_ttl_minutes)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(days=self.session_lifetime_days)

    @property
    def session_idle(self) -> timedelta:
        return timedelta(days=self.session_idle_days)

    @property
    def code_key(self) -> bytes:
        """A key for code digests, derived so it differs from the cookie-signing key."""
        return f"keyfob-codes:{self.secret_key}".encode()

    @property
    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """KEYFOB_TRUSTED_PROXIES: comma-separated addresses or networks of reverse proxies."""
        return [
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.trusted_proxies.split(",")
            if p.strip()
        ]

    @property
    def host_names(self) -> list[str]:
        """Host headers the site answers to: the site's own, plus KEYFOB_ALLOWED_HOSTS."""
        extra = [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
        aliases = LOOPBACK_ALIASES if self.is_local else ()
        return [self.rp_id, *aliases, *extra]

    @property
    def lockout_window(self) -> timedelta:
        return timedelta(minutes=self.lockout_window_minutes)

    @property
    def lockout_duration(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)


def from_environment() -> Settings:
    """The settings of the environment and ./.env, refusing a KEYFOB_* name that is no setting.
    var/ (secret key, database, certificates, mail) is made, or tightened, for the site's user
    alone: an install from before umask 077 keeps no 0755 folder."""
    from dotenv import dotenv_values

    if unknown := unknown_variables([*os.environ, *dotenv_values(".env")]):
        raise ValueError(f"{', '.join(unknown)}: no such setting (see the README's Configuration)")
    settings = Settings()
    _private_folder(settings.var_dir)
    return settings


def unknown_variables(names: Iterable[str]) -> list[str]:
    """KEYFOB_* names that are no setting: a misspelt one would otherwise be ignored."""
    known = {f"KEYFOB_{name.upper()}" for name in Settings.model_fields}
    return sorted({n for n in names if n.upper().startswith("KEYFOB_") and n.upper() not in known})


def describe(error: ValidationError) -> str:
    """One line a problem, naming the variable to change rather than the field."""
    lines = []
    for problem in error.errors():
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["loc"]:
            message = f"KEYFOB_{str(problem['loc'][0]).upper()}: {message}"
        lines.append(message)
    return "\n".join(lines)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _private_folder(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _load_or_make_secret(path: Path) -> str:
    """Generated once and kept, so restarts keep sessions and codes valid."""
    if path.exists():
        return path.read_text().strip()
    _private_folder(path.parent)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret
