"""py-spy on the server's workers during a scenario, and a short text summary of where the
time went (inclusive and self share of the samples, per function)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LINE_NO = re.compile(r":\d+\)$")


def _py_spy() -> str | None:
    return shutil.which("py-spy") or (
        str(Path(sys.executable).with_name("py-spy"))
        if Path(sys.executable).with_name("py-spy").exists()
        else None
    )


@contextmanager
def profile_workers(
    pids: list[int], folder: Path | None, name: str, warmup: float, duration: float
) -> Iterator[None]:
    """Samples every worker at 250 Hz for the scenario; writes collapsed stacks and a summary.
    Only the thread holding the interpreter lock is sampled (`--gil`): the profile shows where
    the CPU goes, not where requests wait (the database, the event loop's idle poll)."""
    spy = _py_spy()
    if folder is None or spy is None:
        yield
        return
    procs = []
    for pid in pids:
        out = folder / f"{name}-{pid}.txt"
        procs.append(
            (
                out,
                subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(int(warmup + duration)),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--gil",
                        "--output",
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
        )
    try:
        yield
    finally:
        for _out, proc in procs:
            try:
                proc.wait(timeout=warmup + duration + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
        summary = summarise([out for out, _ in procs if out.exists()])
        (folder / f"{name}-summary.txt").write_text(summary)


def summarise(files: list[Path], top: int = 40) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [LINE_NO.sub(")", f) for f in stack.split(";")]
            total += count
            for frame in set(frames):
                inclusive[frame] += count
            own[frames[-1]] += count
    lines = [f"{total} samples from {len(files)} worker(s)", "", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"
