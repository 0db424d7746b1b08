"""Mutation check of the security code: every one-line regression in MUTANTS must be caught.

What it guarantees, per mutant: the working tree (without .git, the venv and caches) is copied
to a temporary folder, `old` is replaced by `new` in one file (the run stops with an error if
`old` is not there exactly once: a mutant that no longer applies must be updated, never counted),
and the mutant's test files run there with -x under a time limit. Killed: pytest reports a
failing test, or the time limit is hit. Survived: every test passed. Error: pytest could not
run the tests (a collection error, say), which is a broken mutant, not a kill.

Before the mutants, every test file they use runs on an unmodified copy; a mutant whose files
fail there is reported as "baseline failed" rather than killed, so a kill is the mutation's
doing. The copy imports its own code, not the checkout's: <work>/shadow/sitecustomize.py puts a
finder first on sys.meta_path that maps `keyfob` to <copy>/site and `keyfob.admin` to
<copy>/admin (the venv's editable install maps them to the checkout), and PYTHONPATH carries it
into subprocesses; each copy is checked to import from itself with keyfob.paths.IN_CHECKOUT.

Run from the checkout, with the venv's Python:
    .venv/bin/python -m tests.mutate                 all mutants, two at a time
    .venv/bin/python -m tests.mutate -k totp -k csrf  only mutants whose name contains a word
    .venv/bin/python -m tests.mutate --list           the mutants and their test files
Exit status: 0 when every mutant is killed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "build",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
)
SHADOW = '''"""Written by tests/mutate.py: import keyfob from the mutated copy, not the checkout."""
import sys
from importlib.abc import MetaPathFinder
from importlib.util import spec_from_file_location

FOLDERS = {folders!r}


class CopyFinder(MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        folder = FOLDERS.get(fullname)
        if folder is None:
            return None
        return spec_from_file_location(
            fullname, folder + "/__init__.py", submodule_search_locations=[folder]
        )


sys.meta_path.insert(0, CopyFinder())
'''
PROOF = (
    "import keyfob, keyfob.admin, keyfob.paths as p; "
    "print(keyfob.__file__, keyfob.admin.__file__, p.IN_CHECKOUT, p.TEMPLATES, sep='\\n')"
)

GUARDS = "tests/integration/test_mutation_guards.py"
UNIT_GUARDS = "tests/unit/auth/test_mutation_guards.py"
SECURITY = "tests/integration/test_security.py"
ABUSE = "tests/integration/test_abuse.py"
RECOVERY = "tests/integration/test_recovery.py"
REFUSALS = "tests/integration/test_passkey_refusals.py"
ACCOUNT = "tests/integration/test_account_management.py"
ADMIN = "tests/integration/test_admin_access.py"
UNIT_CODES = "tests/unit/auth/test_codes.py"
UNIT_RECOVERY = "tests/unit/auth/test_recovery.py"
UNIT_CHALLENGES = "tests/unit/auth/test_challenges.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    description: str
    tests: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "session-lifetime",
        "site/auth/sessions.py",
        "if now - row.created_at > lifetime or now - row.last_seen_at > idle",
        "if now - row.last_seen_at > idle",
        "a session lives past its absolute lifetime while it is used",
        (GUARDS, ACCOUNT),
    ),
    Mutant(
        "signin-keeps-old-session",
        "site/web/signin.py",
        "    request.session.clear()\n    request.session[SESSION_KEY] = token\n"
        "    request.state.sign_in = row\n",
        "    request.session[SESSION_KEY] = token\n    request.state.sign_in = row\n",
        "sign-in keeps the browser session from before, CSRF token included",
        (GUARDS, SECURITY),
    ),
    Mutant(
        "revoke-others-without-csrf",
        "site/web/sessions.py",
        '@router.post("/account/sessions/revoke-others", dependencies=[Guarded])',
        '@router.post("/account/sessions/revoke-others")',
        '"sign out everywhere else" has no CSRF check (nor rate limit)',
        (GUARDS, SECURITY),
    ),
    Mutant(
        "delete-passkey-from-code-session",
        "site/web/passkeys.py",
        "request: Request, passkey_id: int, db: Db, runtime: CurrentRuntime, "
        "session: RecentFullSession",
        "request: Request, passkey_id: int, db: Db, runtime: CurrentRuntime, "
        "session: RecentSession",
        "a session opened by an emailed code may delete a passkey",
        (GUARDS, ACCOUNT),
    ),
    Mutant(
        "locked-account-second-factor",
        "site/auth/recovery.py",
        "if lockout.is_locked(user, now=now) or not user.is_active:",
        "if not user.is_active:",
        "a locked account accepts a second factor already pending",
        (GUARDS, RECOVERY),
    ),
    Mutant(
        "totp-replay-race",
        "site/auth/recovery.py",
        ".where(AuthenticatorApp.id == app_id, AuthenticatorApp.last_step < step)",
        ".where(AuthenticatorApp.id == app_id)",
        "two parallel uses of one TOTP code both succeed",
        (UNIT_GUARDS, UNIT_RECOVERY, RECOVERY),
    ),
    Mutant(
        "verify-code-ip-limit",
        "site/auth/signup.py",
        '    await enforce(\n        throttle,\n        db,\n        "verify_code:ip",\n'
        "        client.ip,\n        now=now,\n        client=client,\n    )\n",
        "",
        "code guesses are not limited per client address",
        (GUARDS, ABUSE),
    ),
    Mutant(
        "registration-challenge-owner",
        "site/auth/passkeys.py",
        "    if challenge.user_id != user.id:\n        raise ChallengeExpired\n",
        "",
        "a registration finishes with another account's challenge",
        (UNIT_GUARDS, GUARDS, REFUSALS),
    ),
    Mutant(
        "email-code-compare",
        "site/auth/codes.py",
        "if not hmac.compare_digest(expected, row.code_digest):",
        "if expected != row.code_digest:",
        "the emailed code is compared with == (timing leak)",
        (UNIT_CODES,),
    ),
    Mutant(
        "email-code-attempts",
        "site/auth/codes.py",
        ".values(attempts=EmailCode.attempts + 1)",
        ".values(attempts=EmailCode.attempts)",
        "wrong tries at an emailed code are not counted",
        (UNIT_CODES, SECURITY),
    ),
    Mutant(
        "email-code-expiry",
        "site/auth/codes.py",
        "            EmailCode.expires_at > now,\n",
        "",
        "an expired emailed code still works",
        (UNIT_CODES,),
    ),
    Mutant(
        "recovery-code-reuse",
        "site/auth/recovery.py",
        ".where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))\n"
        "        .values(used_at=now)",
        ".where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))\n"
        "        .values(used_at=None)",
        "a recovery code is never marked used",
        (UNIT_RECOVERY, RECOVERY),
    ),
    Mutant(
        "totp-earlier-step",
        "site/auth/recovery.py",
        "if hmac.compare_digest(totp.at(step * STEP_SECONDS), candidate) and step > after:",
        "if hmac.compare_digest(totp.at(step * STEP_SECONDS), candidate):",
        "a TOTP code of an already used step matches",
        (UNIT_RECOVERY, UNIT_GUARDS, RECOVERY),
    ),
    Mutant(
        "second-factor-failures-uncounted",
        "site/auth/recovery.py",
        "await lockout.record_failure(db, user, policy=policy.lockout, now=now, ip=client.ip)",
        "pass",
        "wrong second factors do not count toward the lockout",
        (RECOVERY,),
    ),
    Mutant(
        "lockout-threshold",
        "site/auth/lockout.py",
        "if user.code_failures >= policy.threshold",
        "if user.code_failures > policy.threshold",
        "the account locks one failure late",
        (ABUSE, RECOVERY),
    ),
    Mutant(
        "throttle-off-by-one",
        "site/auth/throttle.py",
        "if len(hits) >= item.amount:",
        "if len(hits) > item.amount:",
        "every rate limit lets one request too many through",
        (ABUSE,),
    ),
    Mutant(
        "passkey-user-handle",
        "site/auth/passkeys.py",
        "if user_handle is None or not secrets.compare_digest(user_handle, owner.webauthn_handle):",
        "if user_handle is None:",
        "a passkey signs in under another account's user handle",
        (REFUSALS,),
    ),
    Mutant(
        "passkey-sign-count-kept",
        "site/auth/passkeys.py",
        "    passkey.sign_count = verified.new_sign_count\n",
        "",
        "the stored sign count never moves, so a cloned key goes unseen",
        (REFUSALS,),
    ),
    Mutant(
        "passkey-challenge-kept",
        "site/auth/passkeys.py",
        "        delete(WebAuthnChallenge)\n"
        "        .where(WebAuthnChallenge.id == challenge_id, "
        "WebAuthnChallenge.purpose == purpose)\n"
        "        .returning(WebAuthnChallenge)\n",
        "        select(WebAuthnChallenge)\n"
        "        .where(WebAuthnChallenge.id == challenge_id, "
        "WebAuthnChallenge.purpose == purpose)\n",
        "a passkey challenge is not deleted when used",
        (UNIT_CHALLENGES, REFUSALS),
    ),
    Mutant(
        "passkey-challenge-kept-on-failure",
        "site/auth/passkeys.py",
        "        await db.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.id == "
        "challenge.id))\n        raise\n",
        "        raise\n",
        "a refused sign-in leaves its challenge usable",
        (REFUSALS,),
    ),
    Mutant(
        "passkey-cross-origin",
        "site/auth/passkeys.py",
        "        _refuse_cross_origin(credential)\n    return passkey, owner, verified",
        "    return passkey, owner, verified",
        "a sign-in from a page embedding ours (crossOrigin, topOrigin) is accepted",
        (GUARDS, REFUSALS),
    ),
    Mutant(
        "passkey-cross-origin-registration",
        "site/auth/passkeys.py",
        "        _refuse_cross_origin(credential)\n    if len(verified.credential_id)",
        "    if len(verified.credential_id)",
        "a passkey made inside another site's frame is registered",
        (GUARDS, REFUSALS),
    ),
    Mutant(
        "passkey-disabled-owner",
        "site/auth/passkeys.py",
        "    if not owner.is_active:\n        raise PasskeyRejected\n",
        "",
        "a disabled account still signs in with its passkey",
        ("tests/integration/test_admin_actions.py",),
    ),
    Mutant(
        "csrf-origin",
        "site/web/deps.py",
        "if origin is not None and origin != runtime.settings.origin:",
        "if False:",
        "a cross-site Origin is not refused when the token is right",
        (SECURITY,),
    ),
    Mutant(
        "recent-full-session-not-full",
        "site/web/deps.py",
        "async def require_recent_full_session(request: Request, session: FullSession)",
        "async def require_recent_full_session(request: Request, session: CurrentSession)",
        "every recent-full-session route accepts a session opened by an emailed code",
        (GUARDS, ACCOUNT),
    ),
    Mutant(
        "revoke-someone-elses-session",
        "site/auth/sessions.py",
        "            SignInSession.id == session_id, SignInSession.user_id == user_id\n",
        "            SignInSession.id == session_id\n",
        "a session id of another account can be signed out",
        (GUARDS, ACCOUNT),
    ),
    Mutant(
        "admin-staff-check",
        "admin/auth.py",
        "        if not found.is_staff:\n",
        "        if False:\n",
        "any signed-in member opens the back office",
        (ADMIN,),
    ),
    Mutant(
        "admin-passkey-check",
        "admin/auth.py",
        "        if not found.staff.by_passkey:\n",
        "        if False:\n",
        "staff signed in by an emailed code open the back office",
        (ADMIN,),
    ),
    Mutant(
        "admin-csrf-token",
        "admin/csrf.py",
        "if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):",
        "if not expected:",
        "back-office forms are accepted without their token",
        (ADMIN,),
    ),
)


@dataclass(frozen=True)
class Outcome:
    verdict: str  # "killed", "survived", "timeout", "error", "baseline failed"
    seconds: float
    output: str


@contextmanager
def copy_of_tree() -> Iterator[Path]:
    """A fresh copy of the working tree and its import shadow; yields the copy's root."""
    work = Path(tempfile.mkdtemp(prefix="keyfob-mutant-"))
    try:
        tree = work / "tree"
        shutil.copytree(ROOT, tree, ignore=IGNORED, symlinks=True)
        shadow = work / "shadow"
        shadow.mkdir()
        folders = {"keyfob": str(tree / "site"), "keyfob.admin": str(tree / "admin")}
        (shadow / "sitecustomize.py").write_text(SHADOW.format(folders=folders))
        yield tree
    finally:
        shutil.rmtree(work, ignore_errors=True)


def environment(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree.parent / "shadow"), str(tree)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def imports_from(tree: Path) -> str:
    """What is wrong, or "" when the copy imports its own code and finds its templates."""
    shown = subprocess.run(
        [sys.executable, "-c", PROOF],
        cwd=tree,
        env=environment(tree),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = shown.stdout.split("\n")
    expected = [str(tree / "site" / "__init__.py"), str(tree / "admin" / "__init__.py"), "True"]
    if lines[:3] != expected or not lines[3].startswith(str(tree)):
        return f"the copy does not import its own code:\n{shown.stdout}{shown.stderr}"
    return ""


def require_once(text: str, mutant: Mutant) -> None:
    found = text.count(mutant.old)
    if found != 1:
        raise SystemExit(f"{mutant.name}: the old text is in {mutant.path} {found} times, not once")


def apply(tree: Path, mutant: Mutant) -> None:
    target = tree / mutant.path
    text = target.read_text()
    require_once(text, mutant)
    target.write_text(text.replace(mutant.old, mutant.new))


def run_pytest(tree: Path, tests: Iterable[str], timeout: float) -> Outcome:
    """pytest -x in its own process group, so a time-out also ends servers it started."""
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    process = subprocess.Popen(
        command,
        cwd=tree,
        env=environment(tree),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return Outcome("timeout", time.monotonic() - started, output)
    verdict = {0: "survived", 1: "killed"}.get(process.returncode, "error")
    return Outcome(verdict, time.monotonic() - started, output)


def baseline(test_file: str, timeout: float) -> tuple[str, Outcome]:
    with copy_of_tree() as tree:
        if problem := imports_from(tree):
            raise SystemExit(problem)
        return test_file, run_pytest(tree, [test_file], timeout)


def check(mutant: Mutant, timeout: float) -> Outcome:
    with copy_of_tree() as tree:
        apply(tree, mutant)
        if problem := imports_from(tree):
            return Outcome("error", 0.0, problem)
        outcome = run_pytest(tree, mutant.tests, timeout)
    print(f"  {outcome.verdict}: {mutant.name}", file=sys.stderr, flush=True)
    return outcome


def last_lines(output: str, count: int = 15) -> str:
    return "\n".join("    " + line for line in output.strip().splitlines()[-count:])


def report(mutant: Mutant, outcome: Outcome) -> None:
    print(f"{outcome.verdict:>15}  {mutant.name:<34} {outcome.seconds:6.1f}s  {mutant.description}")
    if outcome.verdict not in {"killed", "timeout"}:
        print(last_lines(outcome.output))
    sys.stdout.flush()


def selected(words: list[str] | None) -> list[Mutant]:
    if not words:
        return list(MUTANTS)
    chosen = [m for m in MUTANTS if any(word in m.name for word in words)]
    if not chosen:
        raise SystemExit(f"no mutant's name contains any of {words}")
    return chosen


def run_all(mutants: list[Mutant], jobs: int, timeout: float) -> dict[Mutant, Outcome]:
    """The baseline of every test file used, then each mutant whose files passed it."""
    files = sorted({f for m in mutants for f in m.tests})
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        clean = dict(pool.map(lambda f: baseline(f, timeout), files))
        broken = {f for f, outcome in clean.items() if outcome.verdict != "survived"}
        for f in sorted(broken):
            print(f"baseline failed: {f}\n{last_lines(clean[f].output)}")
        print(f"baseline: {len(files) - len(broken)}/{len(files)} test files pass unmodified")
        runnable = [m for m in mutants if not broken & set(m.tests)]
        results = pool.map(lambda m: check(m, timeout), runnable)
        outcomes = dict(zip(runnable, results, strict=True))
    unknown = Outcome("baseline failed", 0.0, "")
    return {m: outcomes.get(m, unknown) for m in mutants}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-k", action="append", help="only mutants whose name contains this")
    parser.add_argument("--jobs", type=int, default=2, help="mutants checked at once")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per pytest run")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args(argv)
    mutants = selected(args.k)
    if args.list:
        for m in mutants:
            print(f"{m.name:<34} {m.path:<24} {m.description}\n{'':34} {' '.join(m.tests)}")
        return 0
    for m in mutants:  # every mutant must apply before anything runs
        require_once((ROOT / m.path).read_text(), m)
    started = time.monotonic()
    outcomes = run_all(mutants, args.jobs, args.timeout)
    for m, outcome in outcomes.items():
        report(m, outcome)
    killed = sum(o.verdict in {"killed", "timeout"} for o in outcomes.values())
    print(f"score: {killed}/{len(mutants)} killed ({100 * killed / len(mutants):.0f}%)")
    print(f"took {(time.monotonic() - started) / 60:.1f} minutes")
    return 0 if killed == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
