"""WebAuthn challenges: server-side, single use, expiring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import passkeys
from keyfob.errors import ChallengeExpired
from keyfob.models import WebAuthnChallenge

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)


async def begin(db: AsyncSession) -> passkeys.Ceremony:
    return await passkeys.begin_authentication(db, rp_id="localhost", now=NOW, ttl=TTL)


async def test_challenge_is_kept_server_side_and_matches_the_options(db: AsyncSession) -> None:
    import json

    from tests.softauthn import b64url

    ceremony = await begin(db)
    row = await db.get_one(WebAuthnChallenge, ceremony.challenge_id)
    assert json.loads(ceremony.options_json)["challenge"] == b64url(row.challenge)
    assert len(row.challenge) >= 32
    assert row.expires_at == NOW + TTL


async def test_challenge_can_be_consumed_once(db: AsyncSession) -> None:
    ceremony = await begin(db)
    await passkeys.consume_challenge(
        db, challenge_id=ceremony.challenge_id, purpose="sign_in", now=NOW
    )
    with pytest.raises(ChallengeExpired):
        await passkeys.consume_challenge(
            db, challenge_id=ceremony.challenge_id, purpose="sign_in", now=NOW
        )


async def test_expired_challenge_is_refused_and_removed(db: AsyncSession) -> None:
    ceremony = await begin(db)
    with pytest.raises(ChallengeExpired):
        await passkeys.consume_challenge(
            db, challenge_id=ceremony.challenge_id, purpose="sign_in", now=NOW + TTL
        )
    assert (await db.scalars(select(WebAuthnChallenge))).first() is None


async def test_challenge_of_one_ceremony_does_not_serve_another(db: AsyncSession) -> None:
    ceremony = await begin(db)
    with pytest.raises(ChallengeExpired):
        await passkeys.consume_challenge(
            db, challenge_id=ceremony.challenge_id, purpose="register", now=NOW
        )


async def test_missing_challenge_is_refused(db: AsyncSession) -> None:
    with pytest.raises(ChallengeExpired):
        await passkeys.consume_challenge(db, challenge_id=None, purpose="sign_in", now=NOW)
