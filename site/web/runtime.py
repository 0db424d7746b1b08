"""What the composition root builds once and every request reads: no globals elsewhere."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from keyfob.auth.notices import Notifier
from keyfob.auth.passkeys import Expectation
from keyfob.auth.recovery import RecoveryKeys
from keyfob.auth.signup import CodePolicy
from keyfob.auth.throttle import Throttle
from keyfob.i18n import Catalogs
from keyfob.mail.messages import MailRenderer
from keyfob.mail.transports import MailTransport
from keyfob.settings import Settings
from keyfob.web.client import IPNetwork


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    env: Environment
    catalogs: Catalogs
    mail: MailRenderer
    transport: MailTransport
    throttle: Throttle
    notifier: Notifier
    recovery_keys: RecoveryKeys
    proxies: list[IPNetwork]
    mail_wake: asyncio.Event = field(default_factory=asyncio.Event)
    # rendering.render_for_visitor's pages, split where the CSRF token goes
    visitor_pages: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)

    @property
    def code_policy(self) -> CodePolicy:
        s = self.settings
        return CodePolicy(
            key=s.code_key,
            ttl=s.code_ttl,
            resend_after=s.resend_after,
            max_attempts=s.code_max_attempts,
            lockout_threshold=s.lockout_threshold,
            lockout_window=s.lockout_window,
            lockout_duration=s.lockout_duration,
            require_second_factor=s.recovery_requires_second_factor,
        )

    @property
    def expect(self) -> Expectation:
        return Expectation(origin=self.settings.origin, rp_id=self.settings.rp_id)
