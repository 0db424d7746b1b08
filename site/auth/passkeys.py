"""Passkey registration and sign-in. The only module that imports py_webauthn.

Challenges live in the database, are consumed at most once and expire; every library error
becomes a KeyfobError. On top of py_webauthn's checks this module checks what it does not:
that the user handle belongs to the credential's owner, crossOrigin, and credential id size.
"""

from __future__ import annotations

import binascii
import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import FromClause, Select, bindparam, case, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from keyfob import events
from keyfob.auth import audit, sessions
from keyfob.auth.client import Client
from keyfob.auth.notices import Notifier
from keyfob.auth.providers import provider_name
from keyfob.errors import (
    ChallengeExpired,
    CredentialInUse,
    InvalidName,
    MalformedRequest,
    NotFound,
    PasskeyRejected,
    SignCountRegressed,
    UnknownCredential,
)
from keyfob.models import Passkey, User, WebAuthnChallenge, table
from keyfob.prepared import Prepared, link

MAX_CREDENTIAL_ID = 1023
MAX_NAME = 64
TIMEOUT_MS = 120_000

CHALLENGES = table(WebAuthnChallenge)
PASSKEYS = table(Passkey)
USERS = table(User)


def _assertion(challenges: FromClause) -> Select[*tuple[Any, ...]]:
    """The challenge, and the passkey and account the credential names: absent passkey
    columns mean an unknown credential, an absent row a missing challenge."""
    return select(
        challenges.c.purpose,
        challenges.c.challenge,
        challenges.c.user_id.label("bound_to"),
        challenges.c.expires_at,
        PASSKEYS.c.id.label("passkey_id"),
        PASSKEYS.c.public_key,
        PASSKEYS.c.sign_count,
        USERS.c.id.label("user_id"),
        USERS.c.email,
        USERS.c.webauthn_handle,
        USERS.c.is_active,
    ).select_from(
        challenges.outerjoin(
            PASSKEYS, PASSKEYS.c.credential_id == bindparam("credential_id")
        ).outerjoin(USERS, USERS.c.id == PASSKEYS.c.user_id)
    )


_ASSERTION = Prepared(_assertion(CHALLENGES).where(CHALLENGES.c.id == bindparam("challenge_id")))
# On PostgreSQL the same read spends the challenge as it reads it (a DELETE in a WITH clause),
# committed by itself: a challenge is used up the moment it is presented, whatever the
# request does next, and the sign-in needs no transaction for it (`Prepared` standalone).
_SPEND_ASSERTION = Prepared(
    _assertion(
        delete(CHALLENGES)
        .where(CHALLENGES.c.id == bindparam("challenge_id"), CHALLENGES.c.purpose == "sign_in")
        .returning(
            CHALLENGES.c.purpose,
            CHALLENGES.c.challenge,
            CHALLENGES.c.user_id,
            CHALLENGES.c.expires_at,
        )
        .cte("spent")
    ),
    standalone=True,
)
_STORE = Prepared(insert(CHALLENGES))
_FORGET = Prepared(delete(CHALLENGES).where(CHALLENGES.c.id == bindparam("challenge_id")))
_CONSUME = Prepared(
    delete(CHALLENGES).where(
        CHALLENGES.c.id == bindparam("challenge_id"), CHALLENGES.c.purpose == "sign_in"
    )
)
# The counter only moves forward: two sign-ins with one passkey at once cannot set it back.
_USED = Prepared(
    update(PASSKEYS)
    .where(PASSKEYS.c.id == bindparam("passkey_id"))
    .values(
        sign_count=case(
            (PASSKEYS.c.sign_count > bindparam("new_count"), PASSKEYS.c.sign_count),
            else_=bindparam("new_count"),
        ),
        backed_up=bindparam("new_backed_up"),
        last_used_at=bindparam("now"),
    )
)


@dataclass(frozen=True)
class Ceremony:
    """What the browser gets (`options_json`) and what the server keeps for it (`challenge_id`)."""

    challenge_id: str
    options_json: str


@dataclass(frozen=True)
class Account:
    """The account a passkey signed in to, as the session and the audit log need it."""

    id: int
    email: str


@dataclass(frozen=True)
class SignedIn:
    user: Account
    passkey_id: int
    synced: bool


@dataclass(frozen=True)
class Expectation:
    origin: str
    rp_id: str


@contextmanager
def map_errors() -> Iterator[None]:
    try:
        yield
    except WebAuthnException as exc:
        raise PasskeyRejected from exc
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
        raise MalformedRequest from exc


async def _store_challenge(
    db: AsyncSession, *, purpose: str, challenge: bytes, user: User | None, expires: datetime
) -> str:
    challenge_id = secrets.token_hex(16)
    await _STORE.later(
        db,
        {
            "id": challenge_id,
            "purpose": purpose,
            "challenge": challenge,
            "user_id": user.id if user else None,
            "expires_at": expires,
        },
    )
    return challenge_id


async def consume_challenge(
    db: AsyncSession, *, challenge_id: str | None, purpose: str, now: datetime
) -> WebAuthnChallenge:
    """Deleted in the same statement that proves it was still there: usable exactly once."""
    if not challenge_id:
        raise ChallengeExpired
    row = await db.scalar(
        delete(WebAuthnChallenge)
        .where(WebAuthnChallenge.id == challenge_id, WebAuthnChallenge.purpose == purpose)
        .returning(WebAuthnChallenge)
        .execution_options(synchronize_session=False)
    )
    if row is None or row.expires_at <= now:
        raise ChallengeExpired
    return row


def _transports(values: list[str]) -> list[AuthenticatorTransport]:
    known = {t.value for t in AuthenticatorTransport}
    return [AuthenticatorTransport(v) for v in values if v in known]


async def begin_registration(
    db: AsyncSession, *, user: User, rp_id: str, rp_name: str, now: datetime, ttl: timedelta
) -> Ceremony:
    """A discoverable, user-verified passkey; the user's existing ones are excluded."""
    existing = await db.scalars(select(Passkey).where(Passkey.user_id == user.id))
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user.webauthn_handle,
        user_name=user.email,
        user_display_name=user.email,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=p.credential_id, transports=_transports(p.transports))
            for p in existing
        ],
    )
    challenge_id = await _store_challenge(
        db, purpose="register", challenge=options.challenge, user=user, expires=now + ttl
    )
    return Ceremony(challenge_id=challenge_id, options_json=options_to_json(options))


async def finish_registration(
    db: AsyncSession,
    *,
    user: User,
    challenge_id: str | None,
    credential: dict[str, Any],
    expect: Expectation,
    now: datetime,
    notifier: Notifier | None = None,
    client: Client | None = None,
) -> Passkey:
    """Raises ChallengeExpired, PasskeyRejected, MalformedRequest or CredentialInUse.
    The new passkey is audited and, with a notifier, announced to the account's address."""
    challenge = await consume_challenge(db, challenge_id=challenge_id, purpose="register", now=now)
    if challenge.user_id != user.id:
        raise ChallengeExpired
    with map_errors():
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge.challenge,
            expected_rp_id=expect.rp_id,
            expected_origin=expect.origin,
            require_user_verification=True,
        )
        _refuse_cross_origin(credential)
    if len(verified.credential_id) > MAX_CREDENTIAL_ID:
        raise PasskeyRejected
    taken = await db.scalar(
        select(Passkey.id).where(Passkey.credential_id == verified.credential_id)
    )
    if taken is not None:
        raise CredentialInUse
    transports = credential.get("response", {}).get("transports") or []
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t for t in transports if isinstance(t, str)][:8],
        aaguid=verified.aaguid,
        name=provider_name(verified.aaguid)[:64],
        backup_eligible=verified.credential_device_type == "multi_device",
        backed_up=verified.credential_backed_up,
        created_at=now,
    )
    db.add(passkey)
    await db.flush()
    client = client or Client()
    audit.record(
        db,
        "passkey_added",
        now=now,
        user=user,
        client=client,
        passkey_id=passkey.id,
        aaguid=passkey.aaguid,
    )
    await events.emit(db, events.PasskeyAdded(user_id=user.id, passkey_id=passkey.id))
    if notifier is not None:
        notifier.send(db, user, "passkey_added", now=now, name=passkey.name)
    return passkey


async def begin_authentication(
    db: AsyncSession, *, rp_id: str, now: datetime, ttl: timedelta, user: User | None = None
) -> Ceremony:
    """Without `user`, no allowCredentials: the browser offers any discoverable passkey. With
    `user` (re-authentication), only that person's passkeys, and only they can answer."""
    allowed = []
    if user is not None:
        owned = await db.scalars(select(Passkey).where(Passkey.user_id == user.id))
        allowed = [
            PublicKeyCredentialDescriptor(id=p.credential_id, transports=_transports(p.transports))
            for p in owned
        ]
    options = generate_authentication_options(
        rp_id=rp_id,
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
        allow_credentials=allowed,
    )
    challenge_id = await _store_challenge(
        db, purpose="sign_in", challenge=options.challenge, user=user, expires=now + ttl
    )
    return Ceremony(challenge_id=challenge_id, options_json=options_to_json(options))


async def finish_authentication(
    db: AsyncSession,
    *,
    challenge_id: str | None,
    credential: dict[str, Any],
    expect: Expectation,
    now: datetime,
    client: Client | None = None,
) -> SignedIn:
    """Raises ChallengeExpired, UnknownCredential, PasskeyRejected, SignCountRegressed or
    MalformedRequest. A regressed counter is audited (the caller commits on KeyfobError).

    One read (the challenge, and the passkey and account the credential names), the check,
    then the writes: the challenge consumed, deleted in the statement that proves it was still
    there, and the passkey's counter. On SQLite the one write lock is held for those two alone,
    not through the signature check. On PostgreSQL the read spends the challenge itself. A
    failed check consumes the challenge too, so it is used exactly once. Core statements, no
    ORM objects: this is the hottest path of the site."""
    if not challenge_id:
        raise ChallengeExpired
    try:
        raw_id, user_handle = _credential_ids(credential)
        malformed: MalformedRequest | None = None
    except MalformedRequest as exc:
        raw_id, user_handle, malformed = b"", None, exc
    spent = (await link(db)).dialect.name == "postgresql"
    found = await (_SPEND_ASSERTION if spent else _ASSERTION).rows(
        db, {"challenge_id": challenge_id, "credential_id": raw_id}
    )
    row = found[0] if found else None
    if row is None or row["purpose"] != "sign_in" or row["expires_at"] <= now:
        raise ChallengeExpired
    try:
        if malformed is not None:
            raise malformed
        verified = _check_assertion(row, user_handle, credential, expect)
    except Exception as exc:
        if not spent:
            await _FORGET.run(db, {"challenge_id": challenge_id})
        if isinstance(exc, SignCountRegressed):  # possibly a cloned authenticator
            await audit.write(
                db,
                "sign_count_anomaly",
                now=now,
                user=Account(id=row["user_id"], email=row["email"]),
                client=client,
                passkey_id=row["passkey_id"],
                stored=row["sign_count"],
            )
        raise
    if not spent and await _CONSUME.run(db, {"challenge_id": challenge_id}) != 1:
        raise ChallengeExpired
    await _USED.later(
        db,
        {
            "passkey_id": row["passkey_id"],
            "new_count": verified.new_sign_count,
            "new_backed_up": verified.credential_backed_up,
            "now": now,
        },
    )
    return SignedIn(
        user=Account(id=row["user_id"], email=row["email"]),
        passkey_id=row["passkey_id"],
        synced=verified.credential_backed_up,
    )


def _credential_ids(credential: dict[str, Any]) -> tuple[bytes, bytes | None]:
    with map_errors():
        raw_id = base64url_to_bytes(str(credential["rawId"]))
        handle = credential["response"].get("userHandle")
        return raw_id, base64url_to_bytes(handle) if isinstance(handle, str) else None


def _check_assertion(
    row: Mapping[str, Any],
    user_handle: bytes | None,
    credential: dict[str, Any],
    expect: Expectation,
) -> VerifiedAuthentication:
    """What py_webauthn checks, and what it does not: that the passkey is known, belongs to
    the account the user handle names (and, for re-authentication, to the challenge's
    account), and that the account is active."""
    if row["passkey_id"] is None or row["user_id"] is None:
        raise UnknownCredential
    if row["bound_to"] is not None and row["bound_to"] != row["user_id"]:
        raise PasskeyRejected
    if user_handle is None or not secrets.compare_digest(user_handle, row["webauthn_handle"]):
        raise PasskeyRejected
    if not row["is_active"]:
        raise PasskeyRejected
    with map_errors():
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=row["challenge"],
                expected_rp_id=expect.rp_id,
                expected_origin=expect.origin,
                credential_public_key=row["public_key"],
                credential_current_sign_count=row["sign_count"],
                require_user_verification=True,
            )
        except WebAuthnException as exc:
            if "sign count" in str(exc):
                raise SignCountRegressed from exc
            raise
        _refuse_cross_origin(credential)
    return verified


def _refuse_cross_origin(credential: dict[str, Any]) -> None:
    """py_webauthn ignores crossOrigin/topOrigin; an embedded ceremony is not ours."""
    client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
    if client_data.get("crossOrigin") is True or "topOrigin" in client_data:
        raise PasskeyRejected


async def list_passkeys(db: AsyncSession, *, user_id: int) -> list[Passkey]:
    rows = await db.scalars(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at, Passkey.id)
    )
    return list(rows)


async def _owned(db: AsyncSession, *, user_id: int, passkey_id: int) -> Passkey:
    """Someone else's passkey looks exactly like a missing one."""
    passkey = await db.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != user_id:
        raise NotFound
    return passkey


async def rename_passkey(db: AsyncSession, *, user_id: int, passkey_id: int, name: str) -> Passkey:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= MAX_NAME or not cleaned.isprintable():
        raise InvalidName
    passkey = await _owned(db, user_id=user_id, passkey_id=passkey_id)
    passkey.name = cleaned
    return passkey


async def delete_passkey(
    db: AsyncSession,
    *,
    user: User,
    passkey_id: int,
    notifier: Notifier,
    client: Client,
    now: datetime,
    current_session_id: int | None = None,
) -> Passkey:
    """Deleted at once: the credential stops working on every worker with this commit, and
    the other browsers it signed in are signed out (removing the passkey of a lost phone ends
    the phone's sessions); the browser doing the removing stays signed in."""
    passkey = await _owned(db, user_id=user.id, passkey_id=passkey_id)
    ended = await sessions.revoke_sessions_of_passkey(
        db, passkey_id=passkey_id, keep_id=current_session_id
    )
    await db.delete(passkey)
    await db.flush()
    audit.record(
        db,
        "passkey_removed",
        now=now,
        user=user,
        client=client,
        passkey_id=passkey_id,
        aaguid=passkey.aaguid,
        sessions_ended=ended,
    )
    notifier.send(db, user, "passkey_removed", now=now, name=passkey.name)
    return passkey
