"""Auth guards that only show under a race or a crafted call; see tests/mutate.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from keyfob.auth import passkeys, recovery
from keyfob.db import make_engine, make_sessionmaker
from keyfob.errors import ChallengeExpired, CodeRejected
from keyfob.models import AuthenticatorApp, Passkey, User, utcnow
from tests.conftest import SITE
from tests.softauthn import SoftAuthenticator
from tests.unit.auth.test_recovery import KEYS, with_app

EXPECT = passkeys.Expectation(origin=SITE, rp_id="localhost")


@pytest.fixture
async def maker(fresh_db_url) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on one real database."""
    engine = make_engine(fresh_db_url())
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def other_worker(
    maker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the same database through an engine of their own, as a second worker has."""
    engine = make_engine(maker.kw["bind"].url.render_as_string(hide_password=False))
    yield make_sessionmaker(engine)
    await engine.dispose()


# 6. recovery._advance: one TOTP code raced through two sessions is accepted once.


async def test_one_app_code_raced_through_two_sessions_is_accepted_once(
    maker: async_sessionmaker[AsyncSession], other_worker: async_sessionmaker[AsyncSession]
) -> None:
    async with maker() as db, db.begin():
        user, secret = await with_app(db, "race@example.org")
        app = (await db.scalars(select(AuthenticatorApp))).one()
        user_id, app_id, last_step = user.id, app.id, app.last_step
    later = datetime.fromtimestamp((last_step + 2) * recovery.STEP_SECONDS, UTC)
    code = pyotp.TOTP(secret).at(later)

    async with maker() as first, other_worker() as second:
        for db in (first, second):  # both workers have read the row before either writes
            assert (await db.get_one(AuthenticatorApp, app_id)).last_step == last_step

        async def attempt(db: AsyncSession) -> str | None:
            try:
                method = await recovery.verify_second_factor(
                    db, user=await db.get_one(User, user_id), code=code, keys=KEYS, now=later
                )
            except CodeRejected:
                await db.rollback()
                return None
            await db.commit()
            return method

        results = await asyncio.gather(attempt(first), attempt(second))
    assert sorted(results, key=str) == [None, "app"], "one code, accepted exactly once"
    async with maker() as db:
        assert (await db.get_one(AuthenticatorApp, app_id)).last_step == last_step + 2


# 8. passkeys.finish_registration: the challenge belongs to the account finishing with it.


async def test_registration_with_another_accounts_challenge_is_refused(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    async with maker() as db, db.begin():
        alice, bob = User(email="alice@example.org"), User(email="bob@example.org")
        db.add_all([alice, bob])
        await db.flush()

        async def begin(user: User) -> passkeys.Ceremony:
            return await passkeys.begin_registration(
                db,
                user=user,
                rp_id=EXPECT.rp_id,
                rp_name="Keyfob",
                now=utcnow(),
                ttl=timedelta(minutes=5),
            )

        ceremony = await begin(alice)
        credential = SoftAuthenticator().create(json.loads(ceremony.options_json), origin=SITE)
        with pytest.raises(ChallengeExpired):
            await passkeys.finish_registration(
                db,
                user=bob,
                challenge_id=ceremony.challenge_id,
                credential=credential,
                expect=EXPECT,
                now=utcnow(),
            )
        assert await db.scalar(select(func.count()).select_from(Passkey)) == 0

        own = await begin(alice)  # the same kind of response does verify for its own account
        answer = SoftAuthenticator().create(json.loads(own.options_json), origin=SITE)
        added = await passkeys.finish_registration(
            db,
            user=alice,
            challenge_id=own.challenge_id,
            credential=answer,
            expect=EXPECT,
            now=utcnow(),
        )
        assert added.user_id == alice.id
        assert (await db.scalars(select(Passkey.user_id))).all() == [alice.id]
