"""`make bench`'s end: one table of every bench's goal lines, exit 1 if one was missed.

Reads the benches' output (``GOAL <name> <value> <goal> ok|MISSED`` lines, see goals.py) and
their exit statuses (``STATUS <bench> <code>`` lines the Makefile writes), from stdin or files.
A bench that failed without printing a goal line shows as ``(no goal line)``.
Run: `.venv/bin/python bench/summary.py bench-output.log`.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(paths: list[str]) -> int:
    goals: list[list[str]] = []
    statuses: dict[str, int] = {}
    text = "".join(Path(p).read_text() for p in paths) if paths else sys.stdin.read()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[0] == "GOAL":
            goals.append(fields[1:])
        elif len(fields) == 3 and fields[0] == "STATUS" and fields[2].lstrip("-").isdigit():
            statuses[fields[1]] = int(fields[2])
    width = max([len(g[0]) for g in goals] + [30])
    print(f"\n{'goal':<{width}} {'measured':>12} {'goal':>12}  result")
    for name, value, goal, verdict in goals:
        print(f"{name:<{width}} {value:>12} {goal:>12}  {verdict}")
    with_goals = {g[0].split(".")[0] for g in goals}
    failed = False
    for bench, code in statuses.items():
        if code != 0 and bench not in with_goals:
            print(f"{bench + '.*':<{width}} {'(no goal line)':>12} {'':>12}  exit {code}")
        failed |= code != 0
    missed = sum(g[3] != "ok" for g in goals)
    note = ", a bench failed" if failed and not missed else ""
    print(f"\n{len(goals) - missed} of {len(goals)} goals met{note}")
    return 1 if missed or failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
