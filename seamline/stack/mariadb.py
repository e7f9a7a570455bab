"""MariaDB from the system's packages, as a private server in <state>/mariadb."""

import os
import shutil
import subprocess
from pathlib import Path

import pymysql

from seamline.stack import processes
from seamline.stack.errors import StackError
from seamline.stack.installs import apt_install
from seamline.stack.layout import DEPLOY_DIR, HOST
from seamline.stack.service import Service

TEMPLATES = DEPLOY_DIR / "mariadb"
PORT = 53306
USER = PASSWORD = "seamline"
SERVER = Path("/usr/sbin/mariadbd")
INSTALL_DB = Path("/usr/bin/mariadb-install-db")
INSTALL_FIX = "install MariaDB (`apt-get install mariadb-server`) and rerun `seamline stack up`"


def url(database: str = "") -> str:
    """SQLAlchemy URL for user seamline (may create databases) to database."""
    return f"mysql+pymysql://{USER}:{PASSWORD}@{HOST}:{PORT}/{database}"


class MariaDb(Service):
    """127.0.0.1:53306, UTC, unix socket in <state>/mariadb-run; the seamline account made on every start."""

    name = "mariadb"
    ports = (PORT,)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.data = root / "mariadb"
        self.run_dir = root / "mariadb-run"
        # As root it runs as the `mysql` user, like the distribution's own service.
        self.user = "mysql" if os.geteuid() == 0 else None

    def install(self) -> None:
        if not (SERVER.is_file() and INSTALL_DB.is_file()):
            apt_install("mariadb-server", f"MariaDB server not found at {SERVER}", INSTALL_FIX)

    def _own(self, path: Path) -> None:
        if self.user is not None:
            shutil.chown(path, self.user, self.user)

    def prepare(self) -> None:
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        self._own(self.run_dir)
        for template in ("my.cnf", "init.sql"):
            copy = self.run_dir / template
            shutil.copyfile(TEMPLATES / template, copy)
            self._own(copy)
        if not (self.data / "mysql").is_dir():
            self._install_db()

    def _install_db(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(mode=0o700)
        self._own(self.data)
        argv = [
            str(INSTALL_DB),
            f"--defaults-file={self.run_dir / 'my.cnf'}",
            f"--datadir={self.data}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ]
        if self.user is not None:
            argv.append(f"--user={self.user}")
        result = subprocess.run(argv, cwd=self.run_dir, check=False, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"mariadb-install-db of {self.data} failed: {result.stderr.strip()[-500:]}")

    def command(self) -> processes.Command:
        argv = [
            str(SERVER),
            f"--defaults-file={self.run_dir / 'my.cnf'}",
            f"--datadir={self.data}",
            f"--socket={self.run_dir / 'mariadb.sock'}",
            f"--pid-file={self.run_dir / 'mariadbd.pid'}",
            f"--init-file={self.run_dir / 'init.sql'}",
        ]
        if self.user is not None:
            argv.append(f"--user={self.user}")
        return processes.Command(argv, cwd=self.run_dir)

    def healthy(self) -> bool:
        try:
            pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, connect_timeout=2).close()
            return True
        except pymysql.Error:
            return False

    def purge(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
