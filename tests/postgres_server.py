"""A real PostgreSQL server for the tests: initdb into a temporary folder owned by the `postgres` user
(PostgreSQL refuses to run as root), a free TCP port on 127.0.0.1 with password (scram) login, its
unix socket in that folder, stopped and removed at the end. Stop and start it again to play an outage.

    server = PostgresServer.start_new()       # or the `postgres_server` fixture (tests/db/conftest.py)
    url = server.create_database("shop_1")    # postgresql://postgres:<password>@127.0.0.1:<port>/shop_1
    server.stop(); server.start()
    server.destroy()
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.shop_process import free_port

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"


def missing_reason() -> str | None:
    """Why no PostgreSQL server can be started here, or None."""
    if not os.access(PG_BIN / "initdb", os.X_OK) or not os.access(PG_BIN / "pg_ctl", os.X_OK):
        return f"no PostgreSQL in {PG_BIN} (apt-get install postgresql)"
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        return f"no {PG_USER!r} user to run PostgreSQL as"
    if os.geteuid() != 0:
        return "starting PostgreSQL as the postgres user needs root (runuser)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -r requirements.txt)"
    return None


class PostgresServer:
    def __init__(self, folder: Path, port: int, password: str) -> None:
        self.folder = folder
        self.port = port
        self.password = password
        self.data = folder / "data"
        self.log = folder / "postgres.log"

    @classmethod
    def start_new(cls) -> PostgresServer:
        # Under /tmp, not pytest's tmp_path: every parent folder must be traversable by postgres.
        folder = Path(tempfile.mkdtemp(prefix="shop-pg-"))
        account = pwd.getpwnam(PG_USER)
        os.chown(folder, account.pw_uid, account.pw_gid)
        password = secrets.token_urlsafe(12)
        server = cls(folder, free_port(), password)
        password_file = folder / "pwfile"
        password_file.write_text(password + "\n")
        os.chown(password_file, account.pw_uid, account.pw_gid)
        try:
            server._as_postgres(
                PG_BIN / "initdb", "-D", str(server.data), "-U", PG_USER, "--pwfile", str(password_file),
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                "--no-sync",
            )
            server.start()
        except BaseException:
            server.destroy()
            raise
        return server

    @property
    def socket_dir(self) -> Path:
        return self.folder

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
            # A test server: durability is not what these tests are about, speed of setup is.
            " -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        )
        self._as_postgres(PG_BIN / "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log),
                          "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (mode fast: disconnect everyone, as an outage would); start() brings it back."""
        self._as_postgres(PG_BIN / "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        result = subprocess.run(["runuser", "-u", PG_USER, "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data),
                                 "status"], capture_output=True)
        return result.returncode == 0

    def admin(self):
        """A superuser connection over the unix socket, in autocommit mode."""
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=PG_USER, dbname="postgres",
                               autocommit=True)

    def create_database(self, name: str) -> str:
        """A fresh, empty database; its URL."""
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pass  # removing the folder below is what matters now
        shutil.rmtree(self.folder, ignore_errors=True)

    def _as_postgres(self, *command) -> None:
        result = subprocess.run(["runuser", "-u", PG_USER, "--", *map(str, command)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise subprocess.CalledProcessError(
                result.returncode, command, result.stdout, f"{result.stderr}\n--- server log:\n{log}"
            )
