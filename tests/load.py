"""Keyfob's load and fault test: two workers on PostgreSQL + Redis + an SMTP sink, loopback only.

    .venv/bin/python -m tests.load                      # three 60 s phases, about 6 minutes
    .venv/bin/python -m tests.load --phases steady --duration 20

Each phase drives mixed traffic for `--duration` seconds from a separate process
(tests/benchlib/loadgen.py: page views, passkey sign-ins, Send code for new addresses, each
connection paced), while this process runs whole sign-ups (Send code, the code from the
delivered mail, the code submitted twice at once as a double click would). Phases:

- steady: nothing goes wrong;
- smtp_outage: the SMTP sink is stopped for 20 s in the middle;
- pg_restart: PostgreSQL is stopped in the middle and started again 5 s later.

After each phase, once the outbox has drained, it checks: no 5xx (in pg_restart, 503 only,
while the database is away), every code mail delivered exactly once (mails per address in the
sink against the outbox rows and the Send code requests the site accepted), one account per
address, and that passkey sign-in works again without a restart. It prints a summary and
exits non-zero if a check failed. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python tests/load.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from tests.benchlib.harness import (
    CSRF_META,
    HIGH_LIMITS,
    SlowSink,
    peak_rss_mib,
    run_loadgen,
    seed_accounts,
    worker_pids,
)
from tests.mailsink import code_in, free_port
from tests.pg import Cluster, _bin
from tests.servers import Server, base_env

PHASES = ("steady", "smtp_outage", "pg_restart")
SMTP_DOWN_AT, SMTP_DOWN_FOR = 20.0, 20.0
PG_DOWN_AT, PG_DOWN_FOR = 25.0, 5.0


class Redis:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            ping = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if ping.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


def query(cluster: Cluster, database: str, sql: str, tag: str = "") -> list[list[str]]:
    """Runs `sql` with psql; `:'pattern'` in it is the tag's LIKE pattern."""
    done = subprocess.run(
        [
            *(_bin("psql"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"),
            *("-d", database, "-At", "-F", "\t", "-v", f"pattern={tag}-%"),
        ],
        input=sql,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split("\t") for line in done.stdout.splitlines() if line]


class Journeys:
    """Whole sign-ups from this process, each with its code submitted twice at once."""

    def __init__(self, url: str, sink: SlowSink, tag: str, until: float) -> None:
        self.url = url
        self.sink = sink
        self.tag = tag
        self.until = until
        self.statuses: Counter[str] = Counter()
        self.created: list[str] = []
        self.failed: list[str] = []
        self.twice: list[str] = []  # one code accepted by both submissions: must stay empty
        self.lock = threading.Lock()

    def _count(self, what: str, status: int | str) -> None:
        with self.lock:
            self.statuses[f"{what} {status}"] += 1

    def one(self, address: str) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            try:
                page = client.get("/register")
                self._count("GET /register", page.status_code)
                token = CSRF_META.search(page.text)
                if token is None:
                    self.failed.append(f"{address}: no form ({page.status_code})")
                    return
                sent = client.post(
                    "/register", data={"email": address, "csrf_token": token.group(1)}
                )
                self._count("POST /register", sent.status_code)
                if sent.status_code != 303:
                    self.failed.append(f"{address}: Send code {sent.status_code}")
                    return
                asked = time.monotonic()
                try:
                    mail = self.sink.wait_for(address, timeout=120)
                except AssertionError:
                    where = sent.headers.get("location")
                    self.failed.append(
                        f"{address}: no mail 120 s after Send code answered 303 -> {where}, "
                        f"{asked - self.until:+.0f} s from the end of the load"
                    )
                    return
                code = code_in(mail)
                page = client.get("/code")
                self._count("GET /code", page.status_code)
                token = CSRF_META.search(page.text)
                if token is None:
                    self.failed.append(f"{address}: no code form ({page.status_code})")
                    return
                form = {"code": code, "csrf_token": token.group(1)}
                cookies = dict(client.cookies)
                with ThreadPoolExecutor(max_workers=2) as pool:
                    answers = list(pool.map(lambda _: self._submit(cookies, form), range(2)))
                for status, _ in answers:
                    self._count("POST /code", status)
                # a used code sends the loser back to /login (303 too); only one may sign in
                signed_in = [
                    where for status, where in answers if status == 303 and where != "/login"
                ]
                if len(signed_in) > 1:
                    self.twice.append(address)
                if signed_in:
                    with self.lock:
                        self.created.append(address)
                else:
                    self.failed.append(f"{address}: code answers {answers}")
            except (httpx.HTTPError, AssertionError) as exc:
                self._count("journey", type(exc).__name__)
                self.failed.append(f"{address}: {type(exc).__name__}: {exc}"[:200])

    def _submit(self, cookies: dict[str, str], form: dict[str, str]) -> tuple[int, str]:
        with httpx.Client(base_url=self.url, timeout=30, cookies=cookies) as twin:
            answer = twin.post("/code", data=form)
            return answer.status_code, answer.headers.get("location", "")

    def run(self, lanes: int) -> None:
        def lane(n: int) -> None:
            for i in range(500):
                if time.monotonic() >= self.until:
                    return
                self.one(f"{self.tag}-j{n}-{i}@example.org")

        with ThreadPoolExecutor(max_workers=lanes) as pool:
            list(pool.map(lane, range(lanes)))


def wait_healthy(url: str, most: float) -> float | None:
    """Seconds until /healthz answers 200, or None."""
    started = time.monotonic()
    while time.monotonic() - started < most:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return None


def drain(cluster: Cluster, database: str, tag: str, most: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < most:
        left = query(
            cluster,
            database,
            "SELECT count(*) FROM outbox WHERE to_addr LIKE :'pattern' "
            "AND sent_at IS NULL AND failed_at IS NULL",
            tag,
        )
        if left and left[0][0] == "0":
            return time.monotonic() - started
        time.sleep(1)
    return None


def run_phase(
    phase: str,
    *,
    server: Server,
    sink: SlowSink,
    cluster: Cluster,
    database: str,
    accounts: list[dict[str, Any]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    tag = f"{phase.replace('_', '')}{uuid.uuid4().hex[:6]}"
    print(f"\n== {phase}: {args.duration:.0f} s, tag {tag}", flush=True)
    assert server.process is not None
    workers = worker_pids(server.process.pid)
    events: list[str] = []
    started = time.monotonic()
    journeys = Journeys(server.url, sink, tag, until=started + args.duration)

    def fault() -> None:
        if phase == "smtp_outage":
            time.sleep(SMTP_DOWN_AT)
            sink.stop()
            events.append(f"{time.monotonic() - started:5.1f} s  SMTP sink stopped")
            time.sleep(SMTP_DOWN_FOR)
            sink.start()
            events.append(f"{time.monotonic() - started:5.1f} s  SMTP sink started")
        elif phase == "pg_restart":
            time.sleep(PG_DOWN_AT)
            events.append(f"{time.monotonic() - started:5.1f} s  PostgreSQL stopping")
            cluster.restart(PG_DOWN_FOR)
            events.append(f"{time.monotonic() - started:5.1f} s  PostgreSQL accepting again")
            back = wait_healthy(server.url, 60)
            events.append(
                f"{time.monotonic() - started:5.1f} s  /healthz 200 again"
                if back is not None
                else "/healthz did not recover within 60 s"
            )

    threads = [
        threading.Thread(target=fault, daemon=True),
        threading.Thread(target=journeys.run, args=(args.journeys,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "host_header": f"localhost:{server.port}",
        "origin": server.url,
        "connections": args.connections,
        "duration": args.duration,
        "warmup": 0.0,
        "pace": args.pace,
        "scenario": "mixed",
        "weights": {"page": 5, "signin": 3, "send_code": 2},
        "tag": tag,
        "accounts": accounts,
    }
    traffic = run_loadgen(spec, timeout=args.duration + 120)
    for thread in threads:
        thread.join(timeout=args.duration + 180)
    for index, count in traffic["sign_counts"].items():
        accounts[int(index)]["sign_count"] = count
    drained = drain(cluster, database, tag, most=240)
    time.sleep(1)  # the last SMTP conversation finishes before counting
    return check(
        phase,
        tag,
        traffic=traffic,
        journeys=journeys,
        events=events,
        drained=drained,
        cluster=cluster,
        database=database,
        sink=sink,
        server=server,
        accounts=accounts,
        workers=workers,
    )


def check(
    phase: str,
    tag: str,
    *,
    traffic: dict[str, Any],
    journeys: Journeys,
    events: list[str],
    drained: float | None,
    cluster: Cluster,
    database: str,
    sink: SlowSink,
    server: Server,
    accounts: list[dict[str, Any]],
    workers: list[int],
) -> dict[str, Any]:
    problems: list[str] = []
    statuses: Counter[str] = Counter(traffic["all_statuses"])
    for what, n in journeys.statuses.items():
        statuses[what.rsplit(" ", 1)[1]] += n
    fives = {s: n for s, n in statuses.items() if s.isdigit() and int(s) >= 500}
    allowed = {"503"} if phase == "pg_restart" else set()
    bad = {s: n for s, n in fives.items() if s not in allowed}
    if bad:
        problems.append(f"5xx answers: {bad}")
    if phase != "pg_restart" and statuses.get("error"):
        problems.append(f"{statuses['error']} requests failed without an answer")
    if drained is None:
        problems.append("the outbox did not drain within 240 s")

    rows = query(
        cluster,
        database,
        "SELECT to_addr, count(*), count(sent_at), count(failed_at) FROM outbox "
        "WHERE to_addr LIKE :'pattern' GROUP BY to_addr",
        tag,
    )
    queued = {r[0]: int(r[1]) for r in rows}
    sent = sum(int(r[2]) for r in rows)
    failed = sum(int(r[3]) for r in rows)
    mails = {a: n for a, n in sink.counts().items() if a.startswith(f"{tag}-")}
    accepted = [a for a, ok in traffic["addresses"] if ok] + journeys.created
    refused = [a for a, ok in traffic["addresses"] if not ok]
    if failed:
        problems.append(f"{failed} mails given up")
    lost = [a for a in accepted if mails.get(a, 0) == 0]
    doubled = {a: n for a, n in mails.items() if n > 1}
    unmatched = {a for a in set(queued) | set(mails) if queued.get(a, 0) != mails.get(a, 0)}
    if lost:
        problems.append(f"{len(lost)} accepted Send codes got no mail, e.g. {lost[:3]}")
    if doubled:
        problems.append(f"{len(doubled)} addresses got more than one mail: {list(doubled)[:3]}")
    if unmatched:
        problems.append(
            f"{len(unmatched)} addresses: mails != outbox rows, e.g. {list(unmatched)[:3]}"
        )
    duplicates = query(
        cluster, database, "SELECT email, count(*) FROM users GROUP BY email HAVING count(*) > 1"
    )
    if duplicates:
        problems.append(f"addresses with more than one account: {duplicates[:3]}")
    if journeys.twice:
        problems.append(f"a code was accepted twice for {journeys.twice[:3]}")
    made = query(cluster, database, "SELECT count(*) FROM users WHERE email LIKE :'pattern'", tag)
    accounts_made = int(made[0][0]) if made else 0
    if accounts_made != len(journeys.created):
        problems.append(f"{accounts_made} accounts for {len(journeys.created)} completed sign-ups")

    # recovered by itself: passkey sign-in works now, with no restart of the site
    after = run_loadgen(
        {
            "host": "127.0.0.1",
            "port": server.port,
            "host_header": f"localhost:{server.port}",
            "origin": server.url,
            "connections": 4,
            "duration": 3.0,
            "warmup": 0.0,
            "scenario": "signin",
            "accounts": accounts[:4],
        }
    )
    for index, count in after["sign_counts"].items():
        accounts[int(index)]["sign_count"] = count
    if after["errors"] or not after["units"]:
        problems.append(f"sign-in after the phase: {after['errors']} errors {after['samples'][:2]}")

    summary = {
        "phase": phase,
        "requests": traffic["all_requests"] + sum(journeys.statuses.values()),
        "statuses": dict(sorted(statuses.items())),
        "sign_ins": traffic["sign_ins"],
        "send_code_accepted": len(accepted),
        "send_code_refused": len(refused),
        "sign_ups_completed": len(journeys.created),
        "sign_ups_failed": len(journeys.failed),
        "journey_failures": journeys.failed[:5],
        "mails_queued": sum(queued.values()),
        "mails_sent": sent,
        "mails_received": sum(mails.values()),
        "outbox_drained_after_s": drained,
        "sign_ins_after": after["units"],
        "events": events,
        "peak_rss_mib": peak_rss_mib(workers),
        "problems": problems,
    }
    print_phase(summary)
    return summary


def print_phase(s: dict[str, Any]) -> None:
    for event in s["events"]:
        print(f"  {event}")
    print(f"  requests {s['requests']}, answers {s['statuses']}")
    print(
        f"  passkey sign-ins {s['sign_ins']}; Send code accepted {s['send_code_accepted']}, "
        f"refused {s['send_code_refused']}; sign-ups completed {s['sign_ups_completed']} "
        f"(failed {s['sign_ups_failed']})"
    )
    drained = s["outbox_drained_after_s"]
    print(
        f"  mails: queued {s['mails_queued']}, sent {s['mails_sent']}, received "
        f"{s['mails_received']}; outbox drained "
        + (f"{drained:.0f} s after the load" if drained is not None else "NOT")
    )
    print(f"  sign-ins right after: {s['sign_ins_after']}; worker peak RSS {s['peak_rss_mib']} MiB")
    for failure in s["journey_failures"]:
        print(f"  sign-up failed: {failure}")
    print("  PASS" if not s["problems"] else "  FAIL: " + "; ".join(s["problems"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.load", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pace", type=float, default=0.05, help="s between a connection's steps")
    parser.add_argument("--journeys", type=int, default=2, help="sign-ups run at once")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    args.duration = max(10.0, min(args.duration, 300.0))
    args.connections = max(1, min(args.connections, 128))
    args.journeys = max(1, min(args.journeys, 8))
    phases = [p for p in args.phases.split(",") if p in PHASES]

    folder = Path(tempfile.mkdtemp(prefix="keyfob-load-"))
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="keyfob-load-pg-")))
    redis = Redis(folder)
    sink = SlowSink()
    server = Server(folder=folder / "site", env={}, workers=2)
    results: list[dict[str, Any]] = []
    ok = False
    try:
        cluster.start()
        database = f"load_{uuid.uuid4().hex[:8]}"
        cluster.psql(f"CREATE DATABASE {database}")
        # the throwaway cluster commits asynchronously; a real one does not, and a commit the
        # site acknowledged must survive the restart
        cluster.psql(f"ALTER DATABASE {database} SET synchronous_commit = on")
        redis.start()
        sink.start()
        server.env.update(
            base_env(
                folder,
                site_url=server.url,
                smtp_url=sink.url,
                database_url=cluster.url(database),
                redis_url=redis.url,
                rate_limits=HIGH_LIMITS,
                code_resend_seconds="0",
                smtp_timeout_seconds="5",
            )
        )
        server.start(timeout=90)
        print(
            f"Keyfob load test: {server.url}, 2 workers, PostgreSQL {cluster.port}, Redis "
            f"{redis.port}, SMTP sink {sink.port}; {args.connections} connections paced "
            f"{args.pace * 1000:.0f} ms + {args.journeys} sign-up lanes",
            flush=True,
        )
        accounts = [
            a.for_loadgen()
            for a in seed_accounts(server.url, sink, args.connections, prefix="load-")
        ]
        for phase in phases:
            results.append(
                run_phase(
                    phase,
                    server=server,
                    sink=sink,
                    cluster=cluster,
                    database=database,
                    accounts=accounts,
                    args=args,
                )
            )
        ok = all(not r["problems"] for r in results)
    finally:
        server.stop()
        sink.stop()
        redis.stop()
        cluster.stop()
        if ok:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"\nServer log kept in {folder}", file=sys.stderr)
    print("\nSummary")
    for r in results:
        verdict = "PASS" if not r["problems"] else "FAIL"
        print(
            f"  {r['phase']:<12} {verdict}  requests {r['requests']:6d}  5xx "
            f"{sum(n for s, n in r['statuses'].items() if s.isdigit() and int(s) >= 500):4d}  "
            f"mails {r['mails_received']}/{r['mails_queued']}  "
            f"sign-ups {r['sign_ups_completed']}  sign-ins {r['sign_ins']}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
