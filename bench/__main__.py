"""`make bench`: run every benchmark script and print their last lines as one table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

LINE = re.compile(
    r"^(?P<name>[\w-]+): (?P<figure>\S+ \S+), reference (?P<reference>\S+ \S+), "
    r"ratio (?P<ratio>\S+), target (?P<target>\S+)$"
)
NOT_BENCHMARKS = {"__init__", "__main__", "common"}


def main() -> int:
    scripts = sorted(
        path.stem for path in Path(__file__).parent.glob("*.py") if path.stem not in NOT_BENCHMARKS
    )
    rows, failed = [], False
    for script in scripts:
        print(f"running bench.{script} ...", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", f"bench.{script}"], capture_output=True, text=True
        )
        lines = result.stdout.strip().splitlines()
        match = LINE.match(lines[-1]) if lines else None
        if result.returncode != 0 or match is None:
            failed = True
            print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
            continue
        rows.append(match.groupdict())
    header = ("work", "figure", "reference", "ratio", "target")
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print(
            f"| {row['name']} | {row['figure']} | {row['reference']} | {row['ratio']} | {row['target']} |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
