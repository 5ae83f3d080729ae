"""``--profile NAME``: py-spy samples the app's workers while one measurement runs.

py-spy (the ``bench`` extra of pyproject.toml) reads the workers' Python stacks from outside, without
changing their code; ``--nonblocking`` keeps it from pausing them, so the measurement is barely
disturbed. Each worker's samples go to ``bench/results/profile-<db>-<name>-<pid>.folded`` (collapsed
stacks: feed them to any flame-graph tool), and a summary of the functions that hold the most samples,
on their own and with what they call, to ``bench/results/profile-<db>-<name>.txt``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def available() -> bool:
    return _py_spy() is not None


def _py_spy() -> str | None:
    import sys

    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


@contextmanager
def sampling(pids: Sequence[int], seconds: float, out_dir: Path, stem: str) -> Iterator[None]:
    """Sample ``pids`` for ``seconds`` while the body runs; writes the summary when both are done."""
    py_spy = _py_spy()
    if py_spy is None:
        print("  (no py-spy: pip install -e '.[bench]')", flush=True)
        yield
        return
    out_dir.mkdir(exist_ok=True)
    files = [out_dir / f"{stem}-{pid}.folded" for pid in pids]
    options = ["--duration", str(max(1, round(seconds))), "--rate", "100", "--nonblocking", "--format", "raw"]
    procs = [
        subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), *options, "--output", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid, path in zip(pids, files, strict=True)
    ]
    try:
        yield
    finally:
        for proc in procs:
            try:
                proc.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
    summary = summarise([f for f in files if f.exists()])
    (out_dir / f"{stem}.txt").write_text(summary)
    print("\n".join("    " + line for line in summary.splitlines()[:16]), flush=True)


def summarise(files: Sequence[Path], top: int = 25) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [_LINE.sub(")", frame) for frame in stack.split(";") if frame]
            frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
            if not frames:
                continue
            samples += n
            own[frames[-1]] += n
            for frame in set(frames):
                total[frame] += n
    if not samples:
        return "no samples (the workers were idle, or py-spy could not attach)\n"
    lines = [f"{samples} samples of the workers' busy threads (100 Hz)", "", "own time (the frame running):"]
    lines += [f"  {100 * n / samples:5.1f} %  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "with what it calls:"]
    lines += [f"  {100 * n / samples:5.1f} %  {frame}" for frame, n in total.most_common(top)]
    return "\n".join(lines) + "\n"
