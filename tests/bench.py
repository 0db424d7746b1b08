"""Keyfob's benchmark: real `keyfob serve --workers 2` processes, load from a separate process.

    .venv/bin/python -m tests.bench                 # 3 runs, SQLite and PostgreSQL, ~9 minutes
    .venv/bin/python -m tests.bench --runs 1 --duration 5 --databases sqlite

Each run starts a fresh database, signs up `--accounts` accounts over HTTP (Send code, the
code from the mail a local SMTP sink received, a passkey from tests/softauthn.py), then
measures, each for `--duration` seconds after `--warmup` seconds with `--connections`
keep-alive connections from tests/benchlib/loadgen.py:

1. GET /login, a first visit (no cookie); 1b. the same layout's bare page: a FastAPI app
   rendering a Jinja page of the same shape (tests/benchlib/pageapp.py), the baseline for (1);
2. the passkey sign-in: POST /login/passkey/options, sign, POST /login/passkey/verify;
   2b. the same on SQLite with one worker; 2c. the sign-in as a user makes it, from a fresh
   browser each time: GET /login, options, verify, GET /account;
3. Send code (POST /register with a new address each time) while the SMTP sink takes 2 s a
   message: the mail is queued in the outbox and sent in the background; 3b. the same at an
   offered rate below capacity (`--send-code-rate`, Poisson arrivals over the same
   connections), where the latency shows the request's own cost rather than queueing;
4. a bare FastAPI app (tests/benchlib/bareapp.py, 2 uvicorn workers) that only runs
   py_webauthn's verify_authentication_response on a fixed assertion: the baseline for (2);
4b. the minimal sign-in (tests/benchlib/floorapp.py): the same two requests keeping only a
   server-side single-use challenge, the verify, the sign count and a server-side session, in
   raw asyncpg on PostgreSQL and raw aiosqlite on SQLite; the floor for (2) on each database.

It prints requests/s, p50/p99 latency, errors and each worker's peak RSS (VmHWM, reset
before each scenario) per scenario and run, then the median of the runs, every ratio taken
within one run, and each target of the speed issue with its figure. Rate limits are raised
(all load comes from 127.0.0.1); nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # `python tests/bench.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.benchlib.harness import (
    HIGH_LIMITS,
    ROOT,
    Account,
    SlowSink,
    cpu_seconds,
    descendants,
    load_average,
    peak_rss_mib,
    reset_peak_rss,
    run_loadgen,
    seed_accounts,
    wait_for_quiet,
    worker_pids,
)
from tests.benchlib.profiles import profile_workers
from tests.mailsink import free_port
from tests.servers import Server, base_env
from tests.softauthn import SoftAuthenticator, b64url, cose_key

SCENARIOS = {
    "login": "1 GET /login",
    "page_bare": "1b bare FastAPI + Jinja page",
    "signin": "2 passkey sign-in",
    "signin_1w": "2b passkey sign-in, 1 worker",
    "signin_full": "2c sign-in: 4 requests",
    "send_code": "3 Send code, SMTP 2 s/mail",
    "send_code_paced": "3b Send code, paced",
    "bare": "4 bare verify endpoint",
    "floor": "4b minimal sign-in (floor)",
}
SIGN_INS = frozenset({"signin", "signin_1w", "signin_full", "floor"})
SITE = frozenset({"login", "signin", "signin_full", "send_code", "send_code_paced"})
# Keyfob's workers, whose memory target 5 bounds: not the baseline apps, and not 2b, where
# uvicorn serves from the `keyfob serve` process itself (it also ran the migrations)
KEYFOB = SITE
SMTP_DELAY = 2.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tests.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--accounts", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--wait-load",
        type=float,
        default=0.0,
        help="before each run, wait (≤ 15 min) until the 1-minute load average is below this",
    )
    parser.add_argument(
        "--send-code-rate", type=float, default=50.0, help="offered Send code/s for scenario 3b"
    )
    parser.add_argument("--profile", type=Path, help="py-spy each worker into this folder")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = parser.parse_args(argv)
    args.runs = max(1, min(args.runs, 10))
    args.duration = max(1.0, min(args.duration, 120.0))
    args.connections = max(1, min(args.connections, 512))
    args.accounts = max(1, min(args.accounts, args.connections))
    return args


def postgres_available() -> bool:
    from tests.pg import _bin

    try:
        _bin("initdb")
        _bin("postgres")
    except RuntimeError:
        return False
    return True


@contextmanager
def postgres_cluster(folder: Path) -> Iterator[Any]:
    from tests.pg import Cluster

    cluster = Cluster(folder)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def fixed_assertion(folder: Path, origin: str) -> Path:
    """One passkey and one assertion for the bare endpoint, signed by the software
    authenticator exactly as the site's accounts are."""
    from webauthn import verify_registration_response

    authenticator = SoftAuthenticator()
    challenge = os.urandom(32)
    options = {
        "rp": {"id": "localhost"},
        "user": {"id": b64url(os.urandom(16))},
        "challenge": b64url(challenge),
    }
    registered = verify_registration_response(
        credential=authenticator.create(options, origin=origin),
        expected_challenge=challenge,
        expected_rp_id="localhost",
        expected_origin=origin,
    )
    assertion = authenticator.get({"challenge": b64url(challenge)}, origin=origin)
    path = folder / "assertion.json"
    path.write_text(
        json.dumps(
            {
                "assertion": assertion,
                "challenge": b64url(challenge),
                "public_key": b64url(registered.credential_public_key),
                "origin": origin,
            }
        )
    )
    return path


class AppServer:
    """`uvicorn TARGET --factory --workers N` on `port`, like `keyfob serve` without Keyfob;
    `ready` ("GET /path" or "POST /path BODY") answers 200 once the app is up."""

    def __init__(
        self, folder: Path, workers: int, target: str, env: dict[str, str], ready: str, port: int
    ) -> None:
        self.port = port
        self.folder = folder
        self.workers = workers
        self.target = target
        self.env = env
        self.ready = ready
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://localhost:{self.port}"

    def start(self) -> None:
        log = (self.folder / f"{self.target.split(':')[0]}.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                self.target,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--no-server-header",
            ],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.target} exited; see its log in {self.folder}")
            with suppress(httpx.TransportError):
                if self.ready_response().status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.target} did not answer")

    def ready_response(self) -> httpx.Response:
        method, _, rest = self.ready.partition(" ")
        path, _, body = rest.partition(" ")
        if method == "POST":
            return httpx.post(f"{self.url}{path}", content=body, timeout=2)
        return httpx.get(f"{self.url}{path}", timeout=2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def spec_for(url: str, port: int, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "host_header": f"localhost:{port}",
        "origin": url,
        "connections": args.connections,
        "duration": args.duration,
        "warmup": args.warmup,
        **extra,
    }


def measure(
    name: str,
    database: str,
    supervisor: int,
    spec: dict[str, Any],
    args: argparse.Namespace,
    run: int,
) -> dict[str, Any]:
    # one worker: uvicorn serves from the supervisor's own process
    workers = worker_pids(supervisor) or [supervisor]
    reset_peak_rss(workers)
    load = load_average()
    db_pids = descendants(args.postgres_pid) if database == "postgresql" else []
    cpu = cpu_seconds(workers), cpu_seconds(db_pids)
    with profile_workers(
        workers, args.profile, f"run{run}-{name}-{database}", spec["warmup"], spec["duration"]
    ):
        result = run_loadgen(spec)
    # CPU per request over warm-up and window alike: robust to other load on the machine
    served = max(result["all_requests"], 1)
    result.update(
        scenario=name,
        database=database,
        run=run,
        load_before=load,
        peak_rss_mib=peak_rss_mib(workers),
        server_cpu_ms=1000 * (cpu_seconds(workers) - cpu[0]) / served,
        db_cpu_ms=1000 * (cpu_seconds(db_pids) - cpu[1]) / served,
    )
    print(row(result), flush=True)
    return result


def measure_bare(folder: Path, args: argparse.Namespace, run: int) -> dict[str, Any]:
    port = free_port()
    assertion = fixed_assertion(folder, f"http://localhost:{port}")
    body = json.dumps(json.loads(assertion.read_text())["assertion"])
    bare = AppServer(
        folder,
        args.workers,
        "tests.benchlib.bareapp:create",
        {"BENCH_ASSERTION": str(assertion)},
        ready=f"POST /verify {body}",
        port=port,
    )
    bare.start()
    try:
        assert bare.process is not None
        spec = spec_for(bare.url, bare.port, args, scenario="post", path="/verify", body=body)
        return measure("bare", "-", bare.process.pid, spec, args, run)
    finally:
        bare.stop()


def measure_page_bare(folder: Path, args: argparse.Namespace, run: int) -> dict[str, Any]:
    port = free_port()
    page = AppServer(
        folder, args.workers, "tests.benchlib.pageapp:create", {}, ready="GET /login", port=port
    )
    page.start()
    try:
        assert page.process is not None
        spec = spec_for(page.url, page.port, args, scenario="page", path="/login")
        return measure("page_bare", "-", page.process.pid, spec, args, run)
    finally:
        page.stop()


def floor_accounts(count: int, origin: str) -> tuple[list[Account], list[tuple[bytes, ...]]]:
    """Passkeys made by the software authenticator, as the site's accounts are, without the
    site: the load generator's accounts and the rows for the floor app's table."""
    accounts, rows = [], []
    for n in range(count):
        authenticator = SoftAuthenticator()
        handle = os.urandom(16)
        options = {"rp": {"id": "localhost"}, "user": {"id": b64url(handle)}, "challenge": ""}
        authenticator.create(options, origin=origin)
        cred = authenticator.credentials[-1]
        rows.append((cred.id, cose_key(cred.private_key.public_key()), handle))
        accounts.append(Account(email=f"floor{n}@example.org", authenticator=authenticator))
    return accounts, rows


def measure_floor(
    folder: Path, database: str, cluster: Any, args: argparse.Namespace, run: int
) -> dict[str, Any]:
    import asyncio

    from tests.benchlib.floorapp import prepare, prepare_sqlite

    port = free_port()
    origin = f"http://localhost:{port}"
    accounts, rows = floor_accounts(args.accounts, origin)
    if database == "postgresql":
        name = f"floor_{run}_{uuid.uuid4().hex[:8]}"
        cluster.psql(f"CREATE DATABASE {name}")
        dsn = cluster.url(name).replace("postgresql+asyncpg://", "postgresql://")
        asyncio.run(prepare(dsn, rows))
        target, env = "tests.benchlib.floorapp:create", {"BENCH_FLOOR_DSN": dsn}
    else:
        path = folder / f"floor-{run}-{uuid.uuid4().hex[:8]}.sqlite3"
        asyncio.run(prepare_sqlite(str(path), rows))
        target, env = "tests.benchlib.floorapp:create_sqlite", {"BENCH_FLOOR_SQLITE": str(path)}
    floor = AppServer(
        folder,
        args.workers,
        target,
        {**env, "BENCH_FLOOR_ORIGIN": origin},
        ready="GET /login",
        port=port,
    )
    floor.start()
    try:
        assert floor.process is not None
        spec = spec_for(origin, port, args, scenario="signin", accounts=_for_loadgen(accounts))
        return measure("floor", database, floor.process.pid, spec, args, run)
    finally:
        floor.stop()


def measure_site(
    folder: Path,
    database: str,
    database_url: str,
    sink: SlowSink,
    args: argparse.Namespace,
    run: int,
    wanted: list[str],
    *,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """The site's scenarios on one fresh `keyfob serve`; with `workers` other than the
    bench's, only the sign-in, recorded as scenario 2b."""
    server = Server(folder=folder, env={}, workers=workers or args.workers)
    server.env.update(
        base_env(
            folder,
            site_url=server.url,
            smtp_url=sink.url,
            database_url=database_url,
            rate_limits=HIGH_LIMITS,
            code_resend_seconds="0",
        )
    )
    sink.delay = 0.0
    server.start(timeout=90)
    results = []
    try:
        assert server.process is not None
        supervisor = server.process.pid
        common = spec_for(server.url, server.port, args)
        if "login" in wanted:
            spec = {**common, "scenario": "page", "path": "/login"}
            results.append(measure("login", database, supervisor, spec, args, run))
        if {"signin", "signin_full"} & set(wanted):
            started = time.monotonic()
            accounts = seed_accounts(
                server.url, sink, args.accounts, prefix=f"bench{run}-{uuid.uuid4().hex[:6]}-"
            )
            print(
                f"  ({len(accounts)} accounts with passkeys signed up over HTTP in "
                f"{time.monotonic() - started:.1f} s)",
                flush=True,
            )
        if "signin" in wanted:
            name = "signin" if workers in (None, args.workers) else "signin_1w"
            spec = {**common, "scenario": "signin", "accounts": _for_loadgen(accounts)}
            results.append(measure(name, database, supervisor, spec, args, run))
            _carry_sign_counts(accounts, results[-1])
        if "signin_full" in wanted:
            spec = {**common, "scenario": "journey", "accounts": _for_loadgen(accounts)}
            results.append(measure("signin_full", database, supervisor, spec, args, run))
        if "send_code" in wanted:
            sink.delay = SMTP_DELAY
            spec = {**common, "scenario": "register", "tag": f"sc{run}-{uuid.uuid4().hex[:6]}"}
            results.append(measure("send_code", database, supervisor, spec, args, run))
            # the same at an offered rate below capacity: latency without queueing for a worker
            spec = {
                **spec,
                "tag": f"sp{run}-{uuid.uuid4().hex[:6]}",
                "pace": args.connections / args.send_code_rate,
            }
            results.append(measure("send_code_paced", database, supervisor, spec, args, run))
    finally:
        sink.delay = 0.0
        server.stop()
    return results


def _for_loadgen(accounts: list[Account]) -> list[dict[str, Any]]:
    return [a.for_loadgen() for a in accounts]


def _carry_sign_counts(accounts: list[Account], result: dict[str, Any]) -> None:
    """The load generator's last sign count per account, so that a later scenario on the same
    accounts does not present a counter the site has already seen (a regression it refuses).
    Connection i used account i % len(accounts): the highest count across them wins."""
    for index, count in result.get("sign_counts", {}).items():
        account = accounts[int(index) % len(accounts)]
        current = account.authenticator.credentials[-1].sign_count
        account.update_sign_count(max(current, int(count)))


def row(r: dict[str, Any]) -> str:
    lat = r["latency"]
    units = f"{r['units_per_s']:8.0f}" if r["scenario"] in SIGN_INS else " " * 8
    rss = "/".join(f"{m:.0f}" for m in r["peak_rss_mib"])
    return (
        f"  run {r['run']}  {SCENARIOS[r['scenario']]:<27} {r['database']:<10} "
        f"{r['rps']:8.0f} {units} {lat['p50']:8.1f} {lat['p99']:8.1f} {r['errors']:6d} "
        f"{rss:>9}  {r['client_cpu_s'] / r['duration']:4.2f}  {r['load_before']:4.2f}  "
        f"{r['server_cpu_ms']:6.2f} {r['db_cpu_ms']:6.2f}"
    )


HEADER = (
    f"  {'':6} {'scenario':<27} {'database':<10} {'req/s':>8} {'signin/s':>8} "
    f"{'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'RSS MiB':>9}  {'cli':>4}  {'load':>4}  "
    f"{'srv ms':>6} {'db ms':>6}"
)


def medians(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["scenario"], r["database"]), []).append(r)
    table = []
    for (scenario, database), rs in groups.items():
        kinds = {kind for r in rs for kind in r["by_kind"]}
        table.append(
            {
                "scenario": scenario,
                "database": database,
                "runs": len(rs),
                "rps": statistics.median(r["rps"] for r in rs),
                "units_per_s": statistics.median(r["units_per_s"] for r in rs),
                "p50": statistics.median(r["latency"]["p50"] for r in rs),
                "p99": statistics.median(r["latency"]["p99"] for r in rs),
                "p99_by_kind": {
                    kind: statistics.median(
                        r["by_kind"][kind]["p99"] for r in rs if kind in r["by_kind"]
                    )
                    for kind in sorted(kinds)
                },
                "errors": sum(r["errors"] for r in rs),
                "peak_rss_mib": max((m for r in rs for m in r["peak_rss_mib"]), default=0.0),
                "client_cpu": statistics.median(r["client_cpu_s"] / r["duration"] for r in rs),
                "server_cpu_ms": statistics.median(r["server_cpu_ms"] for r in rs),
                "db_cpu_ms": statistics.median(r["db_cpu_ms"] for r in rs),
            }
        )
    return table


def ratio(
    results: list[dict[str, Any]],
    top: tuple[str, str],
    bottom: tuple[str, str],
    field: str = "units_per_s",
    bottom_field: str | None = None,
) -> tuple[float, list[float]] | None:
    """Median over runs of `top`'s figure over `bottom`'s, each pair from the same run;
    (scenario, database) name each side."""
    by_run = {r["run"]: r for r in results if (r["scenario"], r["database"]) == bottom}
    ratios = [
        r[field] / max(by_run[r["run"]][bottom_field or field], 1e-9)
        for r in results
        if (r["scenario"], r["database"]) == top and r["run"] in by_run
    ]
    return (statistics.median(ratios), ratios) if ratios else None


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _runs(found: tuple[float, list[float]]) -> str:
    return f"{found[0]:.2f} (runs: {', '.join(f'{x:.2f}' for x in found[1])})"


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print("\nMedian of", args.runs, "run(s)  (errors: total; RSS: highest worker peak)")
    print(
        f"  {'scenario':<27} {'database':<10} {'req/s':>8} {'signin/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>6} {'RSS MiB':>8} {'srv ms':>6} {'db ms':>6}  p99 per request"
    )
    table = medians(results)
    for m in table:
        units = f"{m['units_per_s']:8.0f}" if m["scenario"] in SIGN_INS else " " * 8
        kinds = (
            " ".join(f"{k} {v:.0f}" for k, v in m["p99_by_kind"].items())
            if len(m["p99_by_kind"]) > 1
            else ""
        )
        print(
            f"  {SCENARIOS[m['scenario']]:<27} {m['database']:<10} {m['rps']:8.0f} {units} "
            f"{m['p50']:8.1f} {m['p99']:8.1f} {m['errors']:6d} {m['peak_rss_mib']:8.1f} "
            f"{m['server_cpu_ms']:6.2f} {m['db_cpu_ms']:6.2f}  {kinds}"
        )
    print("\nRatio (2)/(4): passkey sign-ins/s over bare verifications/s, same run")
    print_ratios(results, "signin")
    if any(r["scenario"] == "floor" for r in results):
        print("Ratio (4b)/(4): the same for the minimal sign-in")
        print_ratios(results, "floor")
    print_targets(results, table, args)
    for r in results:
        if r["errors"]:
            print(f"  errors in run {r['run']} {r['scenario']} {r['database']}: {r['samples'][:3]}")


def print_targets(
    results: list[dict[str, Any]], table: list[dict[str, Any]], args: argparse.Namespace
) -> None:
    """Each target of the speed issue, with its figure (medians; ratios within one run)."""
    found = {(m["scenario"], m["database"]): m for m in table}
    print(f"\nTargets (median of {args.runs} run(s); ratios taken within each run)")
    signin = found.get(("signin", "sqlite"))
    if signin is not None:
        # the sign-in's own two requests: each connection's first GET /login is set-up
        p99s = {k: v for k, v in signin["p99_by_kind"].items() if k in {"options", "verify"}}
        worst = max(p99s.values(), default=0.0)
        print(
            f"  1. SQLite, {args.workers} workers: {signin['units_per_s']:.0f} sign-ins/s "
            f"(>= 250: {_met(signin['units_per_s'] >= 250)}); p99 "
            + ", ".join(f"{k} {v:.0f} ms" for k, v in p99s.items())
            + f" (<= 100 ms: {_met(worst <= 100)}); errors {signin['errors']} "
            f"({_met(signin['errors'] == 0)})"
        )
    one = found.get(("signin_1w", "sqlite"))
    if one is not None:
        print(
            f"     1 worker: {one['units_per_s']:.0f} sign-ins/s, p99 "
            + ", ".join(
                f"{k} {v:.0f} ms"
                for k, v in one["p99_by_kind"].items()
                if k in {"options", "verify"}
            )
        )
    for database in ("sqlite", "postgresql"):
        full = found.get(("signin_full", database))
        if full is not None:
            print(
                f"     as a user on {database} (2c: GET /login, options, verify, GET /account): "
                f"{full['units_per_s']:.0f} sign-ins/s, p99 "
                + ", ".join(f"{k} {v:.0f} ms" for k, v in full["p99_by_kind"].items())
            )
    pg = ratio(results, ("signin", "postgresql"), ("floor", "postgresql"))
    if pg is not None:
        print(
            f"  2. PostgreSQL sign-in over the minimal sign-in (4b): {_runs(pg)} "
            f"(>= 0.60: {_met(pg[0] >= 0.6)})"
        )
    for database in ("sqlite", "postgresql"):
        page = ratio(results, ("login", database), ("page_bare", "-"), field="rps")
        if page is not None:
            print(
                f"  3. GET /login on {database} over the bare Jinja page (1b): {_runs(page)} "
                f"(>= 0.40: {_met(page[0] >= 0.4)})"
            )
    paced = found.get(("send_code_paced", "sqlite"))
    if paced is not None:
        print(
            f"  4. Send code on SQLite at {args.send_code_rate:.0f} req/s offered, SMTP "
            f"{SMTP_DELAY:.0f} s/mail: p99 {paced['p99']:.1f} ms (< 50: {_met(paced['p99'] < 50)})"
        )
    keyfob = [m["peak_rss_mib"] for m in table if m["scenario"] in KEYFOB]
    if keyfob:
        print(
            f"  5. highest Keyfob worker peak RSS over the mix: {max(keyfob):.1f} MiB "
            f"(<= 100: {_met(max(keyfob) <= 100)})"
        )
    floor = found.get(("floor", "sqlite"))
    if floor is not None:
        share = ratio(results, ("signin", "sqlite"), ("floor", "sqlite"))
        print(
            f"  6. minimal sign-in (4b) on SQLite: {floor['units_per_s']:.0f} sign-ins/s, "
            f"p99 {floor['p99']:.0f} ms"
            + (f"; Keyfob's sign-in over it: {_runs(share)}" if share else "")
        )
    errors = sum(m["errors"] for m in table)
    print(f"  errors, every scenario: {errors} ({_met(errors == 0)})")


def print_ratios(results: list[dict[str, Any]], scenario: str) -> None:
    for database in sorted({r["database"] for r in results if r["scenario"] == scenario}):
        units = ratio(results, (scenario, database), ("bare", "-"), bottom_field="rps")
        requests = ratio(results, (scenario, database), ("bare", "-"), field="rps")
        if units is not None and requests is not None:
            print(
                f"  {database:<10} median {_runs(units)};  counting requests instead: "
                f"{requests[0]:.2f}"
            )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    wanted = [s for s in args.scenarios.split(",") if s in SCENARIOS]
    databases = [d for d in args.databases.split(",") if d in {"sqlite", "postgresql"}]
    if "postgresql" in databases and not postgres_available():
        print("PostgreSQL's initdb/postgres not found: SQLite only")
        databases.remove("postgresql")
    uname = os.uname()
    print(
        f"Keyfob benchmark: {os.cpu_count()} CPUs, {uname.sysname} {uname.release}, "
        f"Python {sys.version.split()[0]}, {args.workers} workers, {args.connections} "
        f"connections, {args.duration:.0f} s (+{args.warmup:.0f} s warm-up) per scenario"
    )
    print(
        "cli = load generator CPU (cores); load = 1-minute load average before the scenario; "
        "srv ms / db ms = CPU the workers / PostgreSQL spent per request"
    )
    results: list[dict[str, Any]] = []
    sink = SlowSink()
    sink.start()
    folder = Path(tempfile.mkdtemp(prefix="keyfob-bench-"))
    try:
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        with contextmanager(_maybe_postgres)("postgresql" in databases) as cluster:
            args.postgres_pid = cluster._server.pid if cluster is not None else 0
            for run in range(1, args.runs + 1):
                if args.wait_load:
                    wait_for_quiet(args.wait_load, most=900)
                print(f"\nRun {run}  (load average {load_average():.2f})\n{HEADER}", flush=True)
                if "bare" in wanted:
                    results.append(measure_bare(folder, args, run))
                if "page_bare" in wanted:
                    results.append(measure_page_bare(folder, args, run))
                for database in databases if "floor" in wanted else []:
                    results.append(measure_floor(folder, database, cluster, args, run))
                for database in databases:
                    site_wanted = [s for s in wanted if s in SITE]
                    if site_wanted:
                        url = _database_url(folder / f"{database}-{run}", database, cluster, run)
                        results += measure_site(
                            folder / f"{database}-{run}",
                            database,
                            url,
                            sink,
                            args,
                            run,
                            site_wanted,
                        )
                if "signin_1w" in wanted and "sqlite" in databases and args.workers != 1:
                    site_folder = folder / f"sqlite-1w-{run}"
                    url = _database_url(site_folder, "sqlite", cluster, run)
                    results += measure_site(
                        site_folder, "sqlite", url, sink, args, run, ["signin"], workers=1
                    )
    except BaseException:
        print(f"\nFailed; server logs are kept in {folder}", file=sys.stderr)
        raise
    else:
        if args.keep_logs:
            print(f"\nServer logs are in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        sink.stop()
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def _database_url(site_folder: Path, database: str, cluster: Any, run: int) -> str:
    """A fresh, empty database for one `keyfob serve`."""
    site_folder.mkdir()
    if database == "sqlite":
        return f"sqlite+aiosqlite:///{site_folder / 'keyfob.sqlite3'}"
    name = f"bench_{run}_{uuid.uuid4().hex[:8]}"
    cluster.psql(f"CREATE DATABASE {name}")
    url: str = cluster.url(name)
    return url


def _maybe_postgres(wanted: bool) -> Iterator[Any]:
    if not wanted:
        yield None
        return
    # its own top-level folder: the postgres user must be able to enter it
    with postgres_cluster(Path(tempfile.mkdtemp(prefix="keyfob-bench-pg-"))) as cluster:
        yield cluster


if __name__ == "__main__":
    main()
