"""The second recovery factor: TOTP with drift and no replay, recovery codes, sealed secrets."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import recovery
from keyfob.auth.client import Client
from keyfob.auth.notices import Notifier
from keyfob.auth.sealing import Sealer
from keyfob.errors import CodeRejected
from keyfob.models import AuthenticatorApp, RecoveryCode, User

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T0 = 1_764_072_000  # a multiple of 30


class _NoMail:
    def render(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("notices are off in these tests")


KEYS = recovery.RecoveryKeys(
    sealer=Sealer("k" * 40, purpose=b"totp"), digest_key=b"d" * 32, issuer="Keyfob"
)
QUIET = Notifier(mail=_NoMail(), enabled=frozenset(), secret_key="k" * 40)  # type: ignore[arg-type]


def code_at(seconds: float) -> str:
    return pyotp.TOTP(SECRET).at(seconds)


def test_current_code_and_one_step_of_drift_either_way_are_accepted() -> None:
    for offset in (-30, 0, 30):
        assert recovery.matching_step(SECRET, code_at(T0 + offset), now=T0 + 5, after=0) == (
            (T0 + offset) // 30
        )


def test_two_steps_away_is_refused() -> None:
    assert recovery.matching_step(SECRET, code_at(T0 - 60), now=T0, after=0) is None
    assert recovery.matching_step(SECRET, code_at(T0 + 60), now=T0, after=0) is None


def test_a_code_for_the_last_accepted_step_or_earlier_is_refused() -> None:
    step = recovery.matching_step(SECRET, code_at(T0), now=T0, after=0)
    assert step is not None
    assert recovery.matching_step(SECRET, code_at(T0), now=T0, after=step) is None
    assert recovery.matching_step(SECRET, code_at(T0 - 30), now=T0, after=step) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef"])
def test_malformed_codes_are_refused(typed: str) -> None:
    assert recovery.matching_step(SECRET, typed, now=T0, after=0) is None


def test_recovery_codes_have_fifty_bits_and_read_in_groups() -> None:
    made = {recovery.make_recovery_code() for _ in range(500)}
    assert len(made) == 500
    for code in made:
        assert len(code) == 12 and code[4] == code[9] == "-"
        assert len(recovery.normalise_code(code)) == 10  # 10 base32 characters = 50 bits


def test_normalising_ignores_case_spaces_and_dashes() -> None:
    digest = recovery.code_digest("abcd-efgh-ij", key=b"k")
    assert recovery.code_digest(" ABCD EFGH IJ ", key=b"k") == digest
    assert recovery.code_digest("abcdefghij", key=b"k") == digest
    assert recovery.code_digest("abcd-efgh-ik", key=b"k") != digest
    assert recovery.code_digest("abcd-efgh-ij", key=b"other") != digest


def test_sealed_secret_round_trips_and_is_not_the_secret() -> None:
    sealed = KEYS.sealer.seal(SECRET.encode())
    assert SECRET.encode() not in sealed
    assert KEYS.sealer.unseal(sealed) == SECRET.encode()
    with pytest.raises(ValueError):
        Sealer("x" * 40, purpose=b"totp").unseal(sealed)
    with pytest.raises(ValueError):
        KEYS.sealer.unseal(sealed[:-1] + bytes([sealed[-1] ^ 1]))


async def with_app(db: AsyncSession, email: str = "ann@example.org") -> tuple[User, str]:
    """A new account with an authenticator app turned on; returns it and the app's secret."""
    user = User(email=email)
    db.add(user)
    await db.flush()
    secret = await recovery.begin_app(db, user=user, keys=KEYS)
    await recovery.confirm_app(
        db,
        user=user,
        code=pyotp.TOTP(secret).now(),
        keys=KEYS,
        notifier=QUIET,
        client=Client(),
        now=datetime.now(UTC),
    )
    return user, secret


async def enrolled(db: AsyncSession) -> tuple[User, list[str]]:
    """An account with an app and a set of recovery codes; returns it and the codes."""
    user, _ = await with_app(db)
    codes = await recovery.replace_codes(
        db, user=user, keys=KEYS, notifier=QUIET, client=Client(), now=datetime.now(UTC)
    )
    return user, codes


async def test_stored_secret_column_is_sealed(db: AsyncSession) -> None:
    user, _ = await enrolled(db)
    row = (await db.scalars(select(AuthenticatorApp))).one()
    secret = KEYS.sealer.unseal(row.secret_sealed).decode()
    assert secret.encode() not in row.secret_sealed
    assert (await recovery.status(db, user_id=user.id)).app


async def test_recovery_code_works_once_and_only_digests_are_stored(db: AsyncSession) -> None:
    user, codes = await enrolled(db)
    stored = list(await db.scalars(select(RecoveryCode.digest)))
    assert len(stored) == 10 and not set(codes) & set(stored)
    now = datetime.now(UTC)
    used = await recovery.verify_second_factor(
        db, user=user, code=codes[3].upper(), keys=KEYS, now=now
    )
    assert used == "recovery_code"
    with pytest.raises(CodeRejected):
        await recovery.verify_second_factor(db, user=user, code=codes[3], keys=KEYS, now=now)
    assert (await recovery.status(db, user_id=user.id)).codes_left == 9


async def test_app_code_is_refused_when_replayed(db: AsyncSession) -> None:
    user, _ = await enrolled(db)
    row = (await db.scalars(select(AuthenticatorApp))).one()
    secret = KEYS.sealer.unseal(row.secret_sealed).decode()
    later = datetime.fromtimestamp(row.last_step * 30 + 60, UTC)
    code = pyotp.TOTP(secret).at(later)
    assert await recovery.verify_second_factor(db, user=user, code=code, keys=KEYS, now=later)
    with pytest.raises(CodeRejected):
        await recovery.verify_second_factor(db, user=user, code=code, keys=KEYS, now=later)


async def test_new_codes_replace_the_whole_set(db: AsyncSession) -> None:
    user, old = await enrolled(db)
    await recovery.replace_codes(
        db, user=user, keys=KEYS, notifier=QUIET, client=Client(), now=datetime.now(UTC)
    )
    with pytest.raises(CodeRejected):
        await recovery.verify_second_factor(
            db, user=user, code=old[0], keys=KEYS, now=datetime.now(UTC)
        )
