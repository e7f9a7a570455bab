"""Prometheus from the system's packages, scraping the seamline processes that register with it
(seamline/stack/scrape_targets.py)."""

import shutil
from pathlib import Path

import httpx

from seamline.stack import processes
from seamline.stack.installs import apt_install
from seamline.stack.layout import DEPLOY_DIR, HOST
from seamline.stack.service import Service

CONFIG_DIR = DEPLOY_DIR.parent / "prometheus"
PORT = 9090
TOOLS = {"prometheus": "prometheus", "promtool": "prometheus", "amtool": "prometheus-alertmanager"}
"""Command -> the Debian package that has it."""


def tool(name: str) -> str:
    """The path of prometheus, promtool or amtool, installing its Debian package when missing."""
    found = shutil.which(name)
    if found is None:
        package = TOOLS[name]
        apt_install(package, f"{name} not found", f"install it (`apt-get install {package}`) and rerun")
        found = shutil.which(name)
    assert found is not None, f"{name} missing after installing its package"
    return found


class Prometheus(Service):
    """127.0.0.1:9090 with deploy/prometheus's configuration and alert rules; targets in <state>/prometheus/targets."""

    name = "prometheus"
    ports = (PORT,)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.home = root / "prometheus"
        self.targets = self.home / "targets"

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://{HOST}:{PORT}"

    def install(self) -> None:
        tool("prometheus")

    def prepare(self) -> None:
        self.targets.mkdir(parents=True, exist_ok=True)
        (self.home / "alertmanagers").mkdir(exist_ok=True)
        for name in ("prometheus.yml", "alerts.yml"):
            shutil.copyfile(CONFIG_DIR / name, self.home / name)

    def refresh(self) -> None:
        """Write this checkout's configuration and alert rules and have the running Prometheus reload them (its
        lifecycle API is on), so scrape jobs added since it started are scraped."""
        self.prepare()
        httpx.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def command(self) -> processes.Command:
        return processes.Command(
            [
                tool("prometheus"),
                f"--config.file={self.home / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.home / 'data'}",
                "--storage.tsdb.retention.time=2d",
                f"--web.listen-address={HOST}:{PORT}",
                "--web.enable-lifecycle",
            ],
            cwd=self.home,
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def purge(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
