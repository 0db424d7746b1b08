"""axe-core, the accessibility checker auditors use, pinned and installed by the suite itself.

The npm tarball is fetched from the registry with Python alone (a fresh CI machine need not have
node or npm), checked against the registry's sha512 `integrity` before anything is read from
it, and only `axe.min.js` is kept, under .cache/ (not committed). `tests/run` installs it before
the browser tests (`python -m tests.e2e.axe`); the tests call `source()`, which installs it
first when it is missing, so a single pytest run works too.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

# One place for the pin: bump both together (the registry's
# https://registry.npmjs.org/axe-core/<version> gives `dist.integrity`).
VERSION = "4.14.1"
INTEGRITY = (
    "sha512-"
    "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / f"axe-core-{VERSION}"
SCRIPT = CACHE / "axe.min.js"


def verified(tarball: bytes) -> bytes:
    """The tarball, if its digest is the pinned one; anything else is refused."""
    algorithm, _, expected = INTEGRITY.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if digest != expected:
        raise RuntimeError(
            f"axe-core {VERSION}: the tarball's {algorithm} is {digest}, not {expected}"
        )
    return tarball


def install() -> Path:
    """Downloads, verifies and unpacks axe.min.js once; later calls find it in the cache."""
    if SCRIPT.is_file():
        return SCRIPT
    with urllib.request.urlopen(TARBALL, timeout=60) as answer:
        tarball = verified(answer.read())
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        if member is None:
            raise RuntimeError(f"axe-core {VERSION}: no package/axe.min.js in {TARBALL}")
        script = member.read()
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = SCRIPT.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(script)
    partial.replace(SCRIPT)  # atomic: a concurrent run never reads half a file
    return SCRIPT


def source() -> str:
    return install().read_text(encoding="utf-8")


if __name__ == "__main__":
    print(f"axe-core {VERSION}: {install()}", file=sys.stderr)
