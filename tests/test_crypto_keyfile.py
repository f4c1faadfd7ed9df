"""The key file in the data dir (SPEC §11): a damaged one stops startup with one line naming it;
a new one is created private, complete and only once."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Service, base_env, free_port
from trakt_plugin.config import ConfigError
from trakt_plugin.crypto import KEY_BYTES, KEY_FILE_NAME, load_key_material

# A refused start exits long before this; the limit only stops a service that wrongly started.
EXIT_TIMEOUT = 30


def _serve_until_exit(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = base_env(data_dir, TRAKT_PLUGIN_PORT=str(free_port()))
    return subprocess.run(
        [sys.executable, "-m", "trakt_plugin", "serve"],
        env=env,
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("size", [0, 31, 33], ids=["empty", "truncated", "too-long"])
def test_a_damaged_key_file_stops_startup_with_one_line(tmp_path: Path, size: int) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key_file = data_dir / KEY_FILE_NAME
    key_file.write_bytes(b"k" * size)

    result = _serve_until_exit(data_dir)

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("invalid configuration: ")
    assert str(key_file) in lines[0]
    assert f"{KEY_BYTES} bytes" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert key_file.read_bytes() == b"k" * size  # never replaced: it may be restorable
    # No database URL here, so on any run (TRAKT_PLUGIN_TEST_DB too) the store would be this
    # SQLite file: its absence shows the start stopped before opening the store.
    assert not (data_dir / "trakt-plugin.db").exists()


def test_a_fresh_start_creates_a_private_key_and_a_restart_reuses_it(
    service_factory: Callable[..., Service],
) -> None:
    first = service_factory()
    key_file = first.data_dir / KEY_FILE_NAME
    assert first.stop() == 0
    key = key_file.read_bytes()
    assert len(key) == KEY_BYTES
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in first.data_dir.iterdir() if ".tmp" in p.name] == []

    second = service_factory()  # same data dir
    assert second.data_dir == first.data_dir
    assert second.stop() == 0
    assert key_file.read_bytes() == key


def test_processes_starting_at_once_share_one_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    results: list[bytes] = []
    start = threading.Barrier(8)

    def load() -> None:
        start.wait()
        results.append(load_key_material(None, data_dir))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8
    assert len(set(results)) == 1
    assert results[0] == (data_dir / KEY_FILE_NAME).read_bytes()
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE_NAME]


def test_the_configured_secret_key_needs_no_key_file(tmp_path: Path) -> None:
    material = load_key_material("x" * 40, tmp_path / "data")
    assert material == b"x" * 40
    assert not (tmp_path / "data").exists()


def test_a_directory_in_place_of_the_key_file_is_named(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / KEY_FILE_NAME).mkdir(parents=True)
    with pytest.raises(ConfigError, match=KEY_FILE_NAME):
        load_key_material(None, data_dir)
