"""Row actions as `keyfob.admin.actions.Step`s: each hands the row's id and the acting staff
member to one keyfob.auth.moderation flow, which checks, changes and audits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.admin.actions import Actor
from keyfob.auth import moderation


async def disable(db: AsyncSession, actor: Actor, pk: int) -> object:
    return await moderation.disable_account(
        db, user_id=pk, by=actor.user, now=actor.now, ip=actor.ip
    )


async def enable(db: AsyncSession, actor: Actor, pk: int) -> object:
    return await moderation.enable_account(
        db, user_id=pk, by=actor.user, now=actor.now, ip=actor.ip
    )


async def sign_out(db: AsyncSession, actor: Actor, pk: int) -> object:
    return await moderation.sign_out_everywhere(
        db, user_id=pk, by=actor.user, now=actor.now, ip=actor.ip
    )


async def unlock(db: AsyncSession, actor: Actor, pk: int) -> object:
    return await moderation.unlock_account(
        db, user_id=pk, by=actor.user, now=actor.now, ip=actor.ip
    )


async def revoke_session(db: AsyncSession, actor: Actor, pk: int) -> object:
    return await moderation.revoke_session(
        db, session_id=pk, by=actor.user, now=actor.now, ip=actor.ip
    )


async def retry_mail(db: AsyncSession, actor: Actor, pk: int) -> object:
    return await moderation.retry_mail(db, mail_id=pk, by=actor.user, now=actor.now, ip=actor.ip)
