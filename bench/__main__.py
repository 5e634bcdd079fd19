"""`make bench`: run every benchmark script and print their report lines as one table.

    python -m bench [--quick] [--only NAME,NAME] [--logs DIR]

Full size (the default) is what the README's figures come from: the large dataset
(bench.dataset: 1,000,000 members, 10,000,000 ledger rows, 200 small merchants; built once,
then reused), 1,000,000-member campaign and search seeds, a 200,000-row CSV import. `--quick`
runs every benchmark on small sizes in a few minutes, to check that they all still work.
Each script's whole output (plans, per-kind figures) is kept in DIR/<script>.log.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

LINE = re.compile(
    r"^(?P<name>[\w-]+): (?P<figure>\S+) (?P<unit>\S+), reference (?P<reference>\S+ \S+), "
    r"ratio (?P<ratio>\S+), target (?P<target>\S+)$"
)
NOT_BENCHMARKS = {"__init__", "__main__", "common", "dataset"}
# Arguments per script and size; a script not named runs with its own defaults.
SIZES: dict[str, dict[str, list[str]]] = {
    "full": {
        "campaigns": ["--members", "1000000"],
        "member_search": ["--members", "1000000"],
        "imports": ["--rows", "200000"],
    },
    "quick": {
        "api": ["--seconds", "6", "--rounds", "1", "--members", "2000"],
        "backoffice": ["--members", "20000", "--ledger", "200000", "--merchants", "20",
                       "--lookups", "50", "--pages", "10"],
        "campaigns": ["--members", "50000", "--sends", "3000"],
        "expiry": ["--members", "10000", "--rounds", "1"],
        "imports": ["--rows", "10000"],
        "ledger": ["--seconds", "5", "--members", "5000"],
        "member_search": ["--members", "20000", "--queries", "50"],
        "passes": ["--seconds", "2"],
    },
}  # fmt: skip
QUICK_DATASET = "postgresql+psycopg://postgres@127.0.0.1:5432/loyalty_bench_quick"
TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def exact_ratio(row: dict[str, str]) -> float:
    """The ratio from the figures themselves: the printed one is rounded to two decimals."""
    try:
        figure, reference = float(row["figure"]), float(row["reference"].split()[0])
    except ValueError:
        return float(row["ratio"])
    return figure / reference if reference else float(row["ratio"])


def shown_ratio(row: dict[str, str]) -> str:
    ratio = exact_ratio(row)
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.4f}"


def met(row: dict[str, str]) -> str:
    """yes/no for the row's target: '≥0.5' or '0.5' (ratio at least), '≤2' (ratio at most),
    'p95<20ms' (the figure, a time, under that many milliseconds)."""
    target, ratio = row["target"], exact_ratio(row)
    timed = re.fullmatch(r"(?:p\d+)?<([\d.]+)ms", target)
    if timed:
        unit = row["unit"]
        if unit not in TO_MS:
            return "?"
        return "yes" if float(row["figure"]) * TO_MS[unit] < float(timed.group(1)) else "no"
    at_most = re.fullmatch(r"(?:≤|<=)([\d.]+)", target)
    if at_most:
        return "yes" if ratio <= float(at_most.group(1)) else "no"
    at_least = re.fullmatch(r"(?:≥|>=)?([\d.]+)", target)
    if at_least:
        return "yes" if ratio >= float(at_least.group(1)) else "no"
    return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--only", default="", help="comma-separated script names")
    parser.add_argument("--logs", default=os.environ.get("BENCH_LOGS", "bench/results"))
    args = parser.parse_args()
    size = "quick" if args.quick else "full"
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    scripts = sorted(
        path.stem for path in Path(__file__).parent.glob("*.py") if path.stem not in NOT_BENCHMARKS
    )
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        scripts = [script for script in scripts if script in wanted]
    env = dict(os.environ)
    if args.quick:  # the quick dataset must not replace a built large one
        env.setdefault("BENCH_LARGE_DATABASE_URL", QUICK_DATASET)
    rows, failed, begun = [], False, time.perf_counter()
    for script in scripts:
        print(f"running bench.{script} ({size}) ...", flush=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", f"bench.{script}", *SIZES[size].get(script, [])],
            capture_output=True,
            text=True,
            env=env,
        )
        seconds = time.perf_counter() - started
        load = os.getloadavg()[0]
        (logs / f"{script}.log").write_text(result.stdout + "\n" + result.stderr)
        found = [m.groupdict() for line in result.stdout.splitlines() if (m := LINE.match(line))]
        if result.returncode != 0 or not found:
            failed = True
            print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
            continue
        for row in found:
            rows.append({**row, "met": met(row), "load": f"{load:.1f}", "time": f"{seconds:.0f}"})
    header = ("work", "figure", "reference", "ratio", "target", "met", "load", "s")
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print(
            f"| {row['name']} | {row['figure']} {row['unit']} | {row['reference']} | "
            f"{shown_ratio(row)} | {row['target']} | {row['met']} | {row['load']} | {row['time']} |"
        )
    print(
        f"\n{size} run: {len(scripts)} scripts in {time.perf_counter() - begun:.0f} s on "
        f"{os.cpu_count()} cores; load = 1-minute load average when each script ended; "
        f"full output in {logs}/"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
