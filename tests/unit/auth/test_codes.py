"""Email codes: keyed digests only, single use, short-lived, attempt-limited, constant-time."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import codes
from keyfob.errors import CodeRejected, ResendTooSoon
from keyfob.models import EmailCode

KEY = b"k" * 32
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)


async def issue(
    db: AsyncSession,
    email: str = "ann@example.org",
    now: datetime = NOW,
    resend_after: timedelta = timedelta(0),
) -> codes.IssuedCode:
    return await codes.issue_code(
        db, email=email, key=KEY, now=now, ttl=TTL, resend_after=resend_after
    )


async def verify(
    db: AsyncSession, issued: codes.IssuedCode, code: str | None = None, now: datetime = NOW
) -> EmailCode:
    return await codes.verify_code(
        db, code_id=issued.id, code=code or issued.code, key=KEY, now=now, max_attempts=5
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_codes_are_six_digits() -> None:
    made = {codes.make_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in made)
    assert len(made) > 150


async def test_only_a_keyed_digest_is_stored(db: AsyncSession) -> None:
    issued = await issue(db)
    row = await db.get_one(EmailCode, issued.id)
    assert issued.code not in row.code_digest
    assert row.code_digest == codes.digest(issued.code, key=KEY, code_id=issued.id)
    assert row.code_digest != codes.digest(issued.code, key=b"x" * 32, code_id=issued.id)


async def test_right_code_is_accepted_once(db: AsyncSession) -> None:
    issued = await issue(db)
    assert (await verify(db, issued)).email == "ann@example.org"
    with pytest.raises(CodeRejected):
        await verify(db, issued)


async def test_spaces_and_dashes_people_type_are_ignored(db: AsyncSession) -> None:
    issued = await issue(db)
    typed = f" {issued.code[:3]}-{issued.code[3:]} "
    assert await verify(db, issued, typed)


async def test_code_expires_after_ten_minutes(db: AsyncSession) -> None:
    issued = await issue(db)
    with pytest.raises(CodeRejected):
        await verify(db, issued, now=NOW + TTL)


async def test_code_is_dead_after_five_wrong_tries(db: AsyncSession) -> None:
    issued = await issue(db)
    for _ in range(5):
        with pytest.raises(CodeRejected):
            await verify(db, issued, wrong(issued.code))
    with pytest.raises(CodeRejected):
        await verify(db, issued)
    assert (await db.get_one(EmailCode, issued.id)).attempts == 5


async def test_fifth_try_can_still_succeed(db: AsyncSession) -> None:
    issued = await issue(db)
    for _ in range(4):
        with pytest.raises(CodeRejected):
            await verify(db, issued, wrong(issued.code))
    assert await verify(db, issued)


async def test_new_code_replaces_the_old_one(db: AsyncSession) -> None:
    first = await issue(db)
    second = await issue(db, now=NOW + timedelta(seconds=1))
    with pytest.raises(CodeRejected):
        await verify(db, first)
    assert await verify(db, second)
    assert len((await db.scalars(select(EmailCode))).all()) == 1


async def test_resend_inside_the_cooldown_says_how_long_to_wait(db: AsyncSession) -> None:
    await issue(db, resend_after=timedelta(seconds=30))
    with pytest.raises(ResendTooSoon) as refused:
        await issue(db, now=NOW + timedelta(seconds=10), resend_after=timedelta(seconds=30))
    assert 19 <= refused.value.retry_after <= 21
    assert await issue(db, now=NOW + timedelta(seconds=30), resend_after=timedelta(seconds=30))


async def test_code_of_one_address_does_not_open_another(db: AsyncSession) -> None:
    ann = await issue(db, "ann@example.org")
    bob = await issue(db, "bob@example.org")
    with pytest.raises(CodeRejected):
        await codes.verify_code(
            db,
            code_id=bob.id,
            code=ann.code if ann.code != bob.code else wrong(bob.code),
            key=KEY,
            now=NOW,
            max_attempts=5,
        )


async def test_unknown_code_id_is_rejected(db: AsyncSession) -> None:
    with pytest.raises(CodeRejected):
        await codes.verify_code(db, code_id="nope", code="123456", key=KEY, now=NOW, max_attempts=5)


async def test_comparison_is_constant_time(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest comparison goes through hmac.compare_digest, never `==`."""
    seen: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(codes.hmac, "compare_digest", spy)
    issued = await issue(db)
    with pytest.raises(CodeRejected):
        await verify(db, issued, wrong(issued.code))
    await verify(db, issued)
    assert len(seen) == 2
