"""PostgreSQL from the system's packages, as a private cluster in <state>/postgres."""

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg

from seamline.stack import processes
from seamline.stack.errors import StackError
from seamline.stack.installs import apt_install
from seamline.stack.layout import DEPLOY_DIR, HOST
from seamline.stack.service import Service

TEMPLATES = DEPLOY_DIR / "postgres"
PORT = 55432
ROLE = PASSWORD = "seamline"
INSTALL_FIX = "install PostgreSQL (`apt-get install postgresql`) and rerun `seamline stack up`"


def dsn(dbname: str = "postgres", user: str = ROLE, password: str = PASSWORD) -> str:
    """libpq URL to dbname, by default for role seamline (superuser, replication)."""
    return f"postgresql://{user}:{password}@{HOST}:{PORT}/{dbname}"


def _find_bin_dir() -> Path | None:
    """The bin dir of the newest PostgreSQL installed from Debian packages."""
    found = Path("/usr/lib/postgresql").glob("*/bin/initdb")
    newest = max(found, key=lambda initdb: int(re.sub(r"\D", "", initdb.parts[-3]) or 0), default=None)
    return newest.parent if newest else None


def _bin_dir() -> Path:
    bin_dir = _find_bin_dir()
    if bin_dir is None:
        raise StackError(f"PostgreSQL binaries not found under /usr/lib/postgresql: {INSTALL_FIX}")
    return bin_dir


class Postgres(Service):
    """127.0.0.1:55432, wal_level=logical, unix socket in <state>/postgres-run."""

    name = "postgres"
    ports = (PORT,)
    # SIGINT is PostgreSQL's "fast" shutdown: SIGTERM would wait for every client to disconnect. A fast shutdown
    # still waits for logical replication clients to confirm the WAL's end; if one never does, SIGQUIT ("immediate")
    # ends the server and its children, where a SIGKILL of the postmaster would leave them holding the data dir.
    stop_signals = (signal.SIGINT, signal.SIGQUIT)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.data = root / "postgres"
        self.socket_dir = root / "postgres-run"
        # PostgreSQL refuses to run as root: then it runs as the `postgres` user.
        self.user = "postgres" if os.geteuid() == 0 else None

    def install(self) -> None:
        if _find_bin_dir() is None:
            apt_install("postgresql", "PostgreSQL binaries not found under /usr/lib/postgresql", INSTALL_FIX)

    def _own(self, path: Path) -> None:
        if self.user is not None:
            shutil.chown(path, self.user, self.user)

    def prepare(self) -> None:
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._own(self.socket_dir)
        if not (self.data / "PG_VERSION").is_file():
            self._initdb()
        settings = self.data / "seamline.conf"
        shutil.copyfile(TEMPLATES / "postgresql.conf", settings)
        self._own(settings)

    def _initdb(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(mode=0o700)
        self._own(self.data)
        password_file = self.socket_dir / "initdb.pw"
        password_file.write_text(PASSWORD + "\n")
        self._own(password_file)
        try:
            result = subprocess.run(
                [
                    str(_bin_dir() / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    ROLE,
                    f"--pwfile={password_file}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                cwd=self.socket_dir,
                user=self.user,
                check=False,
                capture_output=True,
                text=True,
            )
        finally:
            password_file.unlink()
        if result.returncode != 0:
            raise StackError(f"initdb of {self.data} failed: {result.stderr.strip()[-500:]}")
        hba = self.data / "pg_hba.conf"
        shutil.copyfile(TEMPLATES / "pg_hba.conf", hba)
        self._own(hba)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude 'seamline.conf'\n")

    def command(self) -> processes.Command:
        return processes.Command(
            [str(_bin_dir() / "postgres"), "-D", str(self.data), "-k", str(self.socket_dir)],
            cwd=self.socket_dir,
            user=self.user,
        )

    def healthy(self) -> bool:
        try:
            with psycopg.connect(dsn(), connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    def purge(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
