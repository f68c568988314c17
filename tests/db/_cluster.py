"""A throwaway PostgreSQL + PostGIS cluster: ``initdb`` into a temporary folder, a free port.

Used by the database tests (session fixture in ``conftest.py``) and by
``benchmarks/bench_postgis.py``. The binaries are looked up on ``PATH``, in ``pg_config --bindir``
and in ``/usr/lib/postgresql/*/bin`` (newest first). ``initdb`` refuses to run as root: under
uid 0 the server runs as the ``postgres`` system user (``runuser``) and owns the folder.

The cluster has a superuser ``postgres`` (trust on the Unix socket only) and a role ``onemap``
with a password (scram over TCP) owning the database ``onemap`` with PostGIS installed; clients
find the password in the ``.pgpass`` the cluster writes (``PGPASSFILE``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PASSWORD = "onemap-test-secret"
INSTALL_HINT = (
    "install PostgreSQL and PostGIS (Debian: apt-get install postgresql "
    "postgresql-15-postgis-3) or put their bin folder on PATH"
)


class ClusterUnavailable(RuntimeError):
    """The binaries, the ``postgres`` user or the PostGIS extension are missing (tests skip)."""


def find_bindir() -> Path:
    """Folder holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.CalledProcessError):
            pass
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(p) for p in versions]
    for d in candidates:
        if all((d / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    raise ClusterUnavailable(
        f"no PostgreSQL server binaries (initdb, pg_ctl) found: {INSTALL_HINT}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """Start with :meth:`start`, connect with :attr:`url`, remove with :meth:`destroy`."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.as_postgres = os.getuid() == 0
        if self.as_postgres:
            try:
                self.pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ClusterUnavailable(
                    "running as root and there is no 'postgres' system user to run "
                    f"the server as: {INSTALL_HINT}"
                ) from exc
        self.root = Path(tempfile.mkdtemp(prefix="onemap-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.pgpass = self.root / "pgpass"
        self.pgpass.write_text(f"127.0.0.1:{self.port}:*:onemap:{PASSWORD}\n")
        self.pgpass.chmod(0o600)
        if self.as_postgres:
            os.chown(self.root, self.pw.pw_uid, self.pw.pw_gid)
            self.root.chmod(0o755)
        self.url = f"postgresql://onemap@127.0.0.1:{self.port}/onemap"

    # -------------------------------------------------------------------------- processes
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]] if not args[0].startswith("/") else list(args)
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=self.root)
        if check and out.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr or out.stdout}"
            )
        return out

    def start(self) -> Cluster:
        if not self.data.exists():
            pwfile = self.root / "pw"
            pwfile.write_text(PASSWORD + "\n")
            if self.as_postgres:
                os.chown(pwfile, self.pw.pw_uid, self.pw.pw_gid)
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            )
            pwfile.unlink()
            self._started()
            self._bootstrap()
        else:
            self._started()
        return self

    def _started(self) -> None:
        opts = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 -c "
            f"unix_socket_directories={self.root} "
            "-c fsync=off -c full_page_writes=off -c max_connections=40 -c shared_buffers=64MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
        )

    def psql(self, sql: str, db: str = "onemap") -> str:
        """Run *sql* as superuser over the Unix socket; return its output."""
        return self._run(
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            db,
            "-At",
            "-c",
            sql,
        ).stdout

    def _bootstrap(self) -> None:
        self.psql(f"CREATE ROLE onemap LOGIN PASSWORD '{PASSWORD}'", db="postgres")
        self.psql("CREATE DATABASE onemap OWNER onemap", db="postgres")
        try:
            self.psql("CREATE EXTENSION postgis")
        except RuntimeError as exc:
            raise ClusterUnavailable(
                f"PostgreSQL runs but has no PostGIS extension ({exc}): {INSTALL_HINT}"
            ) from exc
        self.psql("GRANT ALL ON SCHEMA public TO onemap")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``mode="immediate"`` is a crash (no checkpoint, clients cut off)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self._started()
        for _ in range(100):  # crash recovery may still run after pg_ctl -w returns
            if (
                self._run(
                    "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False
                ).returncode
                == 0
            ):
                return
            time.sleep(0.1)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
