"""Run every benchmark (``make bench``): each ``bench/*.py`` without a leading underscore, in name order.

Each bench runs as its own process with this Python and this script's arguments (for example
``--db sqlite``), so new benches are picked up without editing this file. Exits 1 if any bench failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benches() -> list[Path]:
    return sorted(path for path in HERE.glob("*.py") if not path.name.startswith("_") and path.name != "run_all.py")


def main(argv: Sequence[str]) -> int:
    failed: list[str] = []
    for script in benches():
        name = f"bench/{script.name}"
        print(f"\n=== {name} {' '.join(argv)}".rstrip() + " ===", flush=True)
        started = time.monotonic()
        code = subprocess.run([sys.executable, str(script), *argv], cwd=HERE.parent, check=False).returncode
        outcome = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"--- {name}: {outcome} in {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    print(f"\n{len(benches()) - len(failed)} passed, {len(failed)} failed {' '.join(failed)}".rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
