"""Real `keyfob serve` processes for tests that need HTTP over a socket."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.mailsink import free_port


class Server:
    """One `keyfob serve` process; `url` is where it listens."""

    def __init__(
        self, *, folder: Path, env: Mapping[str, str], port: int | None = None, workers: int = 1
    ) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.workers = workers
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        keyfob = Path(sys.executable).with_name("keyfob")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(keyfob), "serve", "--port", str(self.port), "--workers", str(self.workers)],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"keyfob serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"keyfob serve did not answer:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def base_env(
    folder: Path, *, site_url: str, smtp_url: str, database_url: str, **extra: str
) -> dict[str, str]:
    return {
        "KEYFOB_VAR_DIR": str(folder),
        "KEYFOB_SITE_URL": site_url,
        "KEYFOB_SMTP_URL": smtp_url,
        "KEYFOB_DATABASE_URL": database_url,
        "KEYFOB_SECRET_KEY": secrets.token_urlsafe(48),
        "KEYFOB_OUTBOX_POLL_SECONDS": "0.2",
        **{f"KEYFOB_{k.upper()}": v for k, v in extra.items()},
    }
