"""A throwaway PostgreSQL cluster for the tests (SPEC §13), and SQL on a service's own store.

One cluster per test process (pytest-xdist worker): its own data directory and unix socket in a
temp dir, its own free loopback port, fsync off (nothing in it needs to survive a power cut), run
as ``nobody`` when the tests run as root (initdb refuses root). Every test that needs a database
gets a fresh one (``CREATE DATABASE``), so tests stay independent.

``TRAKT_PLUGIN_TEST_DB=postgres`` makes the ``service_factory`` fixture give each service a fresh
PostgreSQL database instead of its SQLite file (``make test`` runs the store, outbox, sync and
chaos tests that way too). The binaries are found through ``PG_BINDIR``, ``pg_config --bindir``,
Debian's ``/usr/lib/postgresql/<version>/bin`` or ``PATH``.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

SUPERUSER = "postgres"
# A database migrated to head once per cluster; test databases are copies of it.
TEMPLATE = "migrated"
# The variable that moves the service tests onto PostgreSQL (see the module docstring).
TEST_DB_VARIABLE = "TRAKT_PLUGIN_TEST_DB"


def wanted() -> bool:
    """Whether this test run puts the services on PostgreSQL."""
    return os.environ.get(TEST_DB_VARIABLE, "sqlite").lower() in ("postgres", "postgresql", "pg")


def bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live, or None when PostgreSQL is not installed."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    if shutil.which("pg_config"):
        answer = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        )
        candidates.append(answer.stdout.strip())
    # Debian keeps the server's programs out of PATH; the newest version first.
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(debian, key=lambda p: int(Path(p).parent.name), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


class Cluster:
    """A running throwaway cluster; :meth:`new_database` hands out fresh databases."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.port = port
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.password = secrets.token_hex(16)
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._admin: sa.Engine | None = None
        self._template_ready = False

    # ------------------------------------------------------------ life cycle

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            command = ["runuser", "-u", "nobody", "--", *command]
        answer = subprocess.run(command, capture_output=True, text=True, check=False)
        if answer.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
            raise RuntimeError(f"{args[0]} failed:\n{answer.stdout}{answer.stderr}{tail}")

    def start(self) -> None:
        self.socket_dir.mkdir()
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.root.chmod(0o755)
            for path in (self.root, self.socket_dir, password_file):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--pwfile",
            str(password_file),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        password_file.unlink()
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.socket_dir}",
                # Throwaway data: no flushes to disk.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=300",
                "-c shared_buffers=32MB",
            ]
        )
        log = self.root / "server.log"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start")

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.dispose()
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    # ------------------------------------------------------------ databases

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def new_database(self, *, migrated: bool = True) -> str:
        """The URL of a new database: a copy of one migrated to head (a service starts in a
        fraction of the time), or empty. tests/test_store_postgres.py runs the migrations."""
        with self._lock:
            if self._admin is None:
                self._admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
            if migrated and not self._template_ready:
                self._create_template()
            name = f"test_{os.getpid()}_{next(self._names)}"
        template = f' TEMPLATE "{TEMPLATE}"' if migrated else ""
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{template}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database at ``url`` under whoever uses it (their connections end)."""
        name = sa.engine.make_url(url).database
        assert self._admin is not None and name and name != TEMPLATE
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')

    def _create_template(self) -> None:
        from trakt_plugin.store.engine import make_engine, migrate

        assert self._admin is not None
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{TEMPLATE}"')
        engine = make_engine(self.url(TEMPLATE))
        try:
            migrate(engine)
        finally:
            engine.dispose()  # a template must have no open connection when it is copied
        self._template_ready = True


def start_cluster(port: int) -> Cluster:
    """Start a cluster on ``port`` (raises RuntimeError when PostgreSQL is not installed)."""
    bin_dir = bindir()
    if bin_dir is None:
        raise RuntimeError(
            "PostgreSQL is not installed: `make debian-test-deps` installs Debian's postgresql"
        )
    root = Path(tempfile.mkdtemp(prefix="trakt-plugin-pg-"))
    cluster = Cluster(bin_dir, root, port)
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster


def remove_cluster(cluster: Cluster) -> None:
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)


# ---------------------------------------------------------------- a service's own store
#
# Tests read and write a service's store only through these, so they run on both engines: SQL as
# text (portable SQL; quote "user") or, where values have a column type (datetimes), SQLAlchemy
# statements built on the product's tables, which store each value as the product would.

Statement = str | sa.Executable


class ServiceDatabases:
    """The store of each data dir of one test (``tmp_path / name``): its SQLite file, or with
    ``TRAKT_PLUGIN_TEST_DB=postgres`` a fresh PostgreSQL database per name, made on first use.

    ``service_factory`` starts services with :meth:`env`; a test that prepares a store before
    the service starts (an older schema, a setting saved by an older version) asks for its
    :meth:`url` first, with ``migrated=False`` for an empty database."""

    def __init__(self, root: Path, cluster: Callable[[], Cluster]) -> None:
        self.root = root
        self._cluster = cluster
        self._urls: dict[str, str] = {}

    def url(self, name: str = "data", *, migrated: bool = True) -> str:
        if not wanted():
            return f"sqlite:///{self.root / name / 'trakt-plugin.db'}"
        if name not in self._urls:
            self._urls[name] = self._cluster().new_database(migrated=migrated)
        return self._urls[name]

    def env(self, name: str = "data") -> dict[str, str]:
        """What a service of this data dir needs in its environment to use its store."""
        return {"TRAKT_PLUGIN_DATABASE_URL": self.url(name)} if wanted() else {}

    def migrated(self, name: str = "store") -> str:
        """The URL of a store already migrated to head, for tests that call the store's code
        in process: a copy of a SQLite file migrated once per test process, or a fresh
        PostgreSQL database (a copy of the cluster's migrated one)."""
        if not wanted():
            target = self.root / name / "trakt-plugin.db"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(_sqlite_template(), target)
        return self.url(name)

    def lose(self, name: str = "data") -> None:
        """Take the store away under its running service, as a failing disk would: the SQLite
        files emptied, or the PostgreSQL database dropped with its connections."""
        if wanted():
            self._cluster().drop_database(self.url(name))
            return
        for file_name in ("trakt-plugin.db", "trakt-plugin.db-wal"):
            with (self.root / name / file_name).open("r+b") as handle:
                handle.truncate(0)


_SQLITE_TEMPLATE: list[Path] = []  # the SQLite file migrated once per test process


def _sqlite_template() -> Path:
    if not _SQLITE_TEMPLATE:
        from trakt_plugin.store.engine import make_engine, migrate

        root = Path(tempfile.mkdtemp(prefix="trakt-plugin-store-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        engine = make_engine(f"sqlite:///{root / 'trakt-plugin.db'}")
        try:
            migrate(engine)
        finally:
            engine.dispose()  # the last connection closing folds the WAL into the file
        _SQLITE_TEMPLATE.append(root / "trakt-plugin.db")
    return _SQLITE_TEMPLATE[0]


class HasStore(Protocol):
    env: Mapping[str, str]
    data_dir: Path


def service_database_url(env: Mapping[str, str], data_dir: Path) -> str:
    """The database a service with ``env`` uses (its SQLite file unless a URL is set)."""
    return env.get("TRAKT_PLUGIN_DATABASE_URL") or f"sqlite:///{data_dir / 'trakt-plugin.db'}"


def store_url(service: HasStore) -> str:
    """The database of a running (or stopped) service."""
    return service_database_url(service.env, service.data_dir)


def _engine(url: str) -> sa.Engine:
    if url.startswith("postgresql"):
        # As the product's sessions: naive timestamps are UTC (store/engine.py).
        return sa.create_engine(
            url, poolclass=sa.pool.NullPool, connect_args={"options": "-c timezone=UTC"}
        )
    # The service may be writing at the same time (WAL): wait for its write lock.
    return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"timeout": 10})


def _run(conn: sa.Connection, statement: Statement, params: Mapping[str, Any] | None) -> Any:
    if isinstance(statement, str):
        statement = sa.text(statement)
    return conn.execute(statement, dict(params) if params else None)


def query(
    url: str, statement: Statement, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Rows of ``statement`` (SQL with named ``:params``, or a SQLAlchemy statement) on the
    database at ``url``, as dicts."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            result = _run(conn, statement, params)
            return [dict(row) for row in result.mappings()] if result.returns_rows else []
    finally:
        engine.dispose()


def execute(
    url: str, statements: Sequence[Statement | tuple[Statement, Mapping[str, Any]]]
) -> list[int]:
    """Run ``statements`` (each alone or with its params) in one transaction on the database at
    ``url``; the rows each changed."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            changed = []
            for item in statements:
                statement, params = item if isinstance(item, tuple) else (item, None)
                changed.append(_run(conn, statement, params).rowcount)
            return changed
    finally:
        engine.dispose()
