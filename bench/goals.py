"""The goal lines every bench ends with, and its exit status.

Each goal is printed as one machine-readable line, ``GOAL <name> <value> <goal> ok|MISSED``
(fields without spaces), which `bench/summary.py` collects into the table of `make bench`.
"""

from __future__ import annotations


class Goals:
    """Collects a bench's goals; :meth:`finish` prints their lines and returns the exit status."""

    def __init__(self, bench: str) -> None:
        self.bench = bench
        self.lines: list[tuple[str, str, str, bool]] = []

    def add(self, name: str, value: str, goal: str, ok: bool) -> bool:
        self.lines.append((name, value, goal, ok))
        return ok

    def finish(self) -> int:
        for name, value, goal, ok in self.lines:
            fields = (f"{self.bench}.{name}", value, goal, "ok" if ok else "MISSED")
            print("GOAL " + " ".join(field.replace(" ", "_") for field in fields))
        return 0 if all(ok for *_, ok in self.lines) else 1
