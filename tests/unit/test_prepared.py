"""Prepared statements store and read exactly what the ORM does, inside the session's own
transaction, on SQLite (on the driver's connection) and PostgreSQL (through Core); writes
kept back by a batching session land together or not at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from keyfob.auth import passkeys, sessions
from keyfob.db import make_engine, make_sessionmaker
from keyfob.models import AuditEvent, Passkey, SignInSession, User, table
from keyfob.prepared import Link, Prepared, Waiting, batch_writes, joined, link, send_waiting

EVENTS = table(AuditEvent)
PASSKEYS = table(Passkey)
WRITE = Prepared(insert(EVENTS))
READ = Prepared(
    select(EVENTS.c.at, EVENTS.c.kind, EVENTS.c.detail, EVENTS.c.user_id.label("who")).where(
        EVENTS.c.kind == bindparam("kind")
    )
)
MOMENT = datetime(2026, 12, 5, 20, 30, 15, 123456, tzinfo=UTC)


def event(kind: str, **detail: object) -> dict[str, object]:
    return {
        "at": MOMENT,
        "kind": kind,
        "user_id": None,
        "email": "",
        "ip": "203.0.113.9",
        "user_agent": "",
        "detail": detail,
    }


async def test_values_round_trip_as_through_the_orm(db: AsyncSession) -> None:
    """The first statement of a transaction begins it (through SQLAlchemy on PostgreSQL); the
    ones after run on the driver's connection, and read back what the ORM reads."""
    assert await READ.rows(db, {"kind": "prepared"}) == []
    assert (await link(db)).driver is not None, "a file or a server: the driver's own path"
    assert await WRITE.run(db, event("prepared", passkey_id=7, synced=True)) == 1
    db.add(AuditEvent(at=MOMENT, kind="orm", detail={"passkey_id": 7, "synced": True}))
    (prepared,) = await READ.rows(db, {"kind": "prepared"})
    (orm_read,) = await READ.rows(db, {"kind": "orm"})
    await db.commit()

    assert prepared == {
        "at": MOMENT,
        "kind": "prepared",
        "detail": {"passkey_id": 7, "synced": True},
        "who": None,
    }
    assert orm_read == {**prepared, "kind": "orm"}
    orm = (await db.scalars(select(AuditEvent).where(AuditEvent.kind == "prepared"))).one()
    assert (orm.at, orm.detail, orm.ip) == (
        MOMENT,
        {"passkey_id": 7, "synced": True},
        "203.0.113.9",
    )
    assert orm.at.tzinfo is not None
    later = await db.scalar(
        select(EVENTS.c.kind).where(
            EVENTS.c.at > MOMENT - timedelta(microseconds=1), EVENTS.c.kind == "prepared"
        )
    )
    assert later == "prepared", "a stored moment compares as the ORM's do"


async def test_statements_join_the_sessions_transaction(db: AsyncSession) -> None:
    await WRITE.run(db, event("rolled back"))
    assert await READ.rows(db, {"kind": "rolled back"}), "the session sees its own write"
    await db.rollback()
    assert await READ.rows(db, {"kind": "rolled back"}) == []

    user = User(email="prepared@example.org")
    db.add(user)
    db.add(AuditEvent(at=MOMENT, kind="pending"))
    assert await READ.rows(db, {"kind": "pending"}), "pending ORM changes are written first"
    await db.commit()

    first = await link(db)
    assert await link(db) is first, "one link for the transaction"
    await db.commit()
    await WRITE.run(db, event("after commit"))
    assert await link(db) is not first, "a new transaction, a new link"
    await db.commit()
    engine = make_engine(db.bind.url.render_as_string(hide_password=False))
    async with make_sessionmaker(engine)() as other:
        seen = await READ.rows(other, {"kind": "after commit"})
    await engine.dispose()
    assert [row["kind"] for row in seen] == ["after commit"], "committed, for everyone"


async def test_row_counts_are_the_databases(db: AsyncSession) -> None:
    db.add(User(email="counted@example.org"))
    await db.commit()
    touch = Prepared(
        update(table(User)).where(table(User).c.email == bindparam("address")).values(locale="de")
    )
    assert await touch.run(db, {"address": "counted@example.org"}) == 1
    assert await touch.run(db, {"address": "nobody@example.org"}) == 0


async def test_a_statement_needing_python_defaults_is_refused(db: AsyncSession) -> None:
    """An INSERT that leaves out a column with a Python default would store NULL there."""
    await READ.rows(db, {"kind": "begin"})
    partial = {k: v for k, v in event("partial").items() if k != "at"}
    with pytest.raises(TypeError, match="every column with a default"):
        await WRITE.run(db, partial)


async def test_a_driver_error_is_sqlalchemys(db: AsyncSession) -> None:
    """The site answers SQLAlchemy's database errors by their class (a refused statement is a
    500, a database away a 503): the driver's own path raises the same classes, without the
    statement's values."""
    await READ.rows(db, {"kind": "begin"})
    taken = {**event("x"), "id": 1}
    await WRITE.run(db, taken)
    with pytest.raises(IntegrityError) as raised:
        await WRITE.run(db, taken)
    assert "203.0.113.9" not in str(raised.value)
    await db.rollback()
    await db.commit()
    batch_writes(db)
    await READ.rows(db, {"kind": "begin"})
    await WRITE.later(db, taken)
    with pytest.raises(IntegrityError):
        await WRITE.later(db, taken)
        await send_waiting(db)


async def test_a_new_account_gets_its_session_before_it_is_flushed(db: AsyncSession) -> None:
    user = User(email="pending@example.org")
    db.add(user)
    token = await sessions.open_session(
        db, user=user, method="code", recovery=True, ip="", user_agent="", now=MOMENT
    )
    owner = await db.scalar(
        select(SignInSession.user_id).where(SignInSession.token_hash == sessions.hash_token(token))
    )
    assert owner is not None and owner == user.id


async def test_a_sign_count_never_moves_back(db: AsyncSession) -> None:
    """Two sign-ins with one passkey at once: the later write of the smaller count loses."""
    user = User(email="counter@example.org")
    db.add(user)
    await db.flush()
    passkey = Passkey(
        user_id=user.id,
        credential_id=b"c" * 16,
        public_key=b"k",
        sign_count=10,
        aaguid="00000000-0000-0000-0000-000000000000",
        name="key",
    )
    db.add(passkey)
    await db.commit()
    for offered, kept in ((5, 10), (12, 12), (11, 12)):
        await passkeys._USED.run(
            db,
            {"passkey_id": passkey.id, "new_count": offered, "new_backed_up": False, "now": MOMENT},
        )
        assert (
            await db.scalar(select(PASSKEYS.c.sign_count).where(PASSKEYS.c.id == passkey.id))
            == kept
        )


async def test_values_written_into_the_statement_are_sent_with_the_given_ones(
    db: AsyncSession,
) -> None:
    """A statement's own values (a literal in WHERE, a constant in VALUES, one set with
    `.params()`) take their place among the caller's, as SQLAlchemy would place them; so does
    a value computed at run time."""
    await WRITE.run(db, event("kept", n=1))
    await WRITE.run(db, event("other", n=2))
    literal = Prepared(
        update(EVENTS)
        .where(EVENTS.c.kind == "kept", EVENTS.c.ip == bindparam("from_ip"))
        .values(email="literal@example.org", user_agent=bindparam("agent"))
    )
    assert await literal.run(db, {"from_ip": "203.0.113.9", "agent": "ua"}) == 1
    computed = Prepared(
        select(EVENTS.c.kind).where(
            EVENTS.c.email == bindparam("email", callable_=lambda: "literal@example.org")
        )
    )
    assert await computed.rows(db, {}) == [{"kind": "kept"}]
    overridden = Prepared(
        select(EVENTS.c.kind)
        .where(EVENTS.c.email == bindparam("who", value="nobody@example.org"))
        .params(who="literal@example.org")
    )
    assert await overridden.rows(db, {}) == [{"kind": "kept"}]
    rows = (await db.execute(select(EVENTS.c.kind, EVENTS.c.email, EVENTS.c.user_agent))).all()
    assert sorted(rows) == [("kept", "literal@example.org", "ua"), ("other", "", "")]


def server_connection(on: Link) -> asyncpg.Connection:
    assert isinstance(on.driver, asyncpg.Connection)
    return on.driver


def on_postgresql(db: AsyncSession) -> bool:
    return db.bind.dialect.name == "postgresql"


async def kinds(db: AsyncSession) -> list[str]:
    """The audit entries' kinds, as another connection sees them: what is committed."""
    engine = make_engine(db.bind.url.render_as_string(hide_password=False))
    async with make_sessionmaker(engine)() as other:
        found = sorted(await other.scalars(select(AuditEvent.kind)))
    await engine.dispose()
    return found


def test_waiting_writes_join_into_one_statement_per_table() -> None:
    """Placeholders numbered on; a table twice, or a quote, starts a new statement."""
    a = Waiting("audit_events", "INSERT INTO audit_events (kind) VALUES ($1)", ["a"])
    b = Waiting("users", "UPDATE users SET n=$1 WHERE id = $2 AND m > $1", [5, 7])
    c = Waiting("audit_events", "INSERT INTO audit_events (kind) VALUES ($1)", ["c"])
    quoted = Waiting("passkeys", "UPDATE passkeys SET name='$1' WHERE id = $1", [3])
    named = Waiting("users", 'UPDATE users SET "a$1"=$1', [4])
    dollar = Waiting("passkeys", "UPDATE passkeys SET a$1=$1", [6])
    assert joined([named, c, dollar]) == [
        ('UPDATE users SET "a$1"=$1', [4]),
        (
            "WITH w0 AS (INSERT INTO audit_events (kind) VALUES ($1)) UPDATE passkeys SET a$1=$2",
            ["c", 6],
        ),
    ]
    assert joined([a, b, c, quoted]) == [
        (
            "WITH w0 AS (INSERT INTO audit_events (kind) VALUES ($1)) "
            "UPDATE users SET n=$2 WHERE id = $3 AND m > $2",
            ["a", 5, 7],
        ),
        ("INSERT INTO audit_events (kind) VALUES ($1)", ["c"]),
        ("UPDATE passkeys SET name='$1' WHERE id = $1", [3]),
    ]


async def test_waiting_writes_land_at_the_end_in_order(db: AsyncSession) -> None:
    """On PostgreSQL they wait, unseen, until sent; elsewhere they run at once."""
    await READ.rows(db, {"kind": "begin"})
    await db.commit()
    batch_writes(db)
    await WRITE.later(db, event("first"))
    await sessions._REVOKE.later(db, {"token_hash": "none"})
    await WRITE.later(db, event("second"))
    waiting = (await link(db)).waiting
    assert len(waiting) == (3 if on_postgresql(db) else 0)
    if on_postgresql(db):
        with pytest.raises(RuntimeError, match="waiting write"):
            await READ.rows(db, {"kind": "first"})
        with pytest.raises(RuntimeError, match="send_waiting comes before the commit"):
            await db.commit()
    await send_waiting(db)
    await db.commit()
    assert await kinds(db) == ["first", "second"]


async def test_pending_orm_changes_and_waiting_writes_commit_together(db: AsyncSession) -> None:
    await READ.rows(db, {"kind": "begin"})
    await db.commit()
    batch_writes(db)
    await WRITE.later(db, event("waiting"))
    db.add(AuditEvent(at=MOMENT, kind=None))  # the database refuses it
    with pytest.raises(DBAPIError):
        await send_waiting(db)
        await db.commit()
    await db.rollback()
    assert await kinds(db) == []


async def test_a_commit_at_the_end_of_begin_with_writes_waiting_is_refused(
    db: AsyncSession,
) -> None:
    if not on_postgresql(db):
        pytest.skip("writes wait on PostgreSQL alone")
    await db.commit()
    batch_writes(db)
    with pytest.raises(RuntimeError, match="send_waiting comes before the commit"):
        async with db.begin():
            await WRITE.later(db, event("lost"))
    assert await kinds(db) == []


async def test_waiting_writes_are_dropped_with_a_rollback(db: AsyncSession) -> None:
    await READ.rows(db, {"kind": "begin"})
    batch_writes(db)
    await WRITE.later(db, event("dropped"))
    await db.rollback()
    await send_waiting(db)
    await db.commit()
    assert await kinds(db) == []


@pytest.mark.parametrize("same_table", [True, False], ids=["one table", "two tables"])
async def test_waiting_writes_land_together_or_not_at_all(
    db: AsyncSession, same_table: bool
) -> None:
    """A refused write takes the writes waiting with it back, in one statement (two tables)
    or in one transaction (one table twice); the session's connection is closed, not reused,
    and the next session works."""
    await READ.rows(db, {"kind": "begin"})
    await db.commit()
    batch_writes(db)
    await WRITE.later(db, event("lost"))
    with pytest.raises(DBAPIError):
        if same_table:
            await WRITE.later(db, {**event("refused"), "kind": None})
        else:
            await sessions._OPEN.later(db, {**_session_values(), "user_id": 987654})
        await send_waiting(db)
    if on_postgresql(db):
        assert server_connection(await link(db)).is_closed()
    await db.rollback()
    await db.close()
    assert await kinds(db) == []
    await WRITE.run(db, event("next"))
    await db.commit()
    assert await kinds(db) == ["next"]


async def test_a_cancelled_standalone_statement_closes_its_connection(db: AsyncSession) -> None:
    """Outside SQLAlchemy's transaction a cancelled statement leaves the connection in a state
    nobody knows: it is closed, and the pool hands out a fresh one."""
    if not on_postgresql(db):
        pytest.skip("outside a transaction is PostgreSQL's alone")
    sleep = Prepared(select(func.pg_sleep(bindparam("seconds")).label("slept")), standalone=True)
    driver = server_connection(await link(db))
    assert not driver.is_in_transaction()
    task = asyncio.ensure_future(sleep.rows(db, {"seconds": 5}))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert driver.is_closed()
    await db.rollback()
    await db.close()
    assert await READ.rows(db, {"kind": "any"}) == []
    assert (await link(db)).driver is not driver


async def test_a_standalone_statement_joins_an_open_transaction(db: AsyncSession) -> None:
    """Inside a transaction it is rolled back with it, like any other."""
    spend = Prepared(
        update(EVENTS).where(EVENTS.c.kind == bindparam("was")).values(kind="spent"),
        standalone=True,
    )
    await WRITE.run(db, event("fresh"))
    await db.commit()
    await READ.rows(db, {"kind": "begin"})
    assert await spend.run(db, {"was": "fresh"}) == 1
    await db.rollback()
    assert await kinds(db) == ["fresh"]
    assert await spend.run(db, {"was": "fresh"}) == 1
    await db.commit()
    assert await kinds(db) == ["spent"]


def _session_values() -> dict[str, object]:
    return {
        "user_id": 1,
        "token_hash": "h" * 64,
        "method": "passkey",
        "is_recovery": False,
        "created_at": MOMENT,
        "authenticated_at": MOMENT,
        "authenticated_by": "passkey",
        "passkey_id": None,
        "last_seen_at": MOMENT,
        "ip": "",
        "user_agent": "",
    }
