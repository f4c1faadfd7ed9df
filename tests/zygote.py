"""Service processes forked from one that has already imported the service.

Importing the service (NiceGUI, FastAPI, SQLAlchemy, …) costs about two seconds of CPU, and the
suite starts a few hundred services on two cores: most of its time went there. Each test worker
therefore keeps one *zygote*, a process that imports the service once and then forks a child
per start. The child is a whole, separate service process: it sets its own environment,
working directory and log file and runs ``trakt-plugin serve`` exactly as ``python -m
trakt_plugin serve`` would; only the import is shared (the zygote runs nothing else, so a child
starts from the same state a fresh interpreter would reach). Set ``TRAKT_PLUGIN_TEST_FORK=0`` to
start every service with ``subprocess.Popen`` instead.

The zygote speaks JSON lines on its stdin/stdout: ``spawn`` answers a pid, ``poll`` answers the
exit code once the child has ended (it is the parent: only it can reap the child).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WANTED = os.environ.get("TRAKT_PLUGIN_TEST_FORK", "1") != "0"


class ForkedProcess:
    """The part of ``subprocess.Popen`` the tests use, for a child of the zygote."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self._zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.poll(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"service {self.pid}", timeout or 0)
            time.sleep(0.02)  # polling for the exit, as Popen.wait does
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # never a signal to a pid already reaped (and maybe reused)
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The test side: one zygote process per test worker, started on first use."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def spawn(self, env: Mapping[str, str], cwd: Path, log_path: Path) -> ForkedProcess:
        answer = self._ask({"op": "spawn", "env": dict(env), "cwd": str(cwd), "log": str(log_path)})
        return ForkedProcess(self, answer["pid"])

    def poll(self, pid: int) -> int | None:
        code: int | None = self._ask({"op": "poll", "pid": pid})["code"]
        return code

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                assert self._process.stdin is not None
                self._process.stdin.close()
                self._process.wait(timeout=10)
                self._process = None

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._process is None:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "tests.zygote"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=self._env,
                    cwd=Path(__file__).resolve().parents[1],
                    text=True,
                )
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
            if not line:
                raise RuntimeError("the service zygote ended")
            answer: dict[str, Any] = json.loads(line)
            return answer


# ---------------------------------------------------------------- the zygote process


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become ``python -m trakt_plugin serve`` and never return."""
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    from trakt_plugin import cli

    sys.argv = [str(Path(cli.__file__).with_name("__main__.py")), "serve"]
    raise SystemExit(cli.main(["serve"]))


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def main() -> None:
    importlib.import_module("trakt_plugin.app")  # the import every child shares

    reaped: dict[int, int] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _child(request)
            answer: dict[str, Any] = {"pid": pid}
        else:
            child = request["pid"]
            if child not in reaped:
                pid, status = os.waitpid(child, os.WNOHANG)
                if pid:
                    reaped[child] = _exit_code(status)
            answer = {"code": reaped.get(child)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
