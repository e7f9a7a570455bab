"""Apicurio Registry 3.0 (Quarkus, in-memory), serving the Confluent-compatible API."""

import tarfile
from pathlib import Path

import httpx

from seamline.stack import processes, toolchain
from seamline.stack.errors import StackError
from seamline.stack.installs import install_once
from seamline.stack.layout import DEPLOY_DIR, HOST
from seamline.stack.service import Service

TEMPLATES = DEPLOY_DIR / "apicurio"
CCOMPAT_PATH = "/apis/ccompat/v7"
JVM_OPTIONS = ["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]


def _fetch_and_unpack(staging: Path) -> None:
    download = staging / "download"
    toolchain.maven_fetch(TEMPLATES / "pom.xml", "copy", download, "Apicurio Registry")
    (archive,) = download.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    archive.unlink()
    download.rmdir()


class Registry(Service):
    """HTTP on 127.0.0.1:8081; schemas live in memory as long as the process."""

    name = "registry"
    ports = (8081,)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.home = root / "apicurio"

    @property
    def url(self) -> str:
        """Base URL of the Confluent-compatible API, for SchemaRegistryClient."""
        return f"http://{HOST}:{self.ports[0]}{CCOMPAT_PATH}"

    def install(self) -> None:
        toolchain.java()
        install_once(self.home, TEMPLATES / "pom.xml", _fetch_and_unpack)

    def prepare(self) -> None:
        """Nothing to prepare: storage is in memory."""

    def command(self) -> processes.Command:
        runners = sorted(self.home.glob("*-runner.jar"))
        if not runners:
            raise StackError(
                f"no Apicurio runner jar in {self.home}: delete that directory and rerun `seamline stack up`"
            )
        return processes.Command(
            [
                toolchain.java(),
                *JVM_OPTIONS,
                f"-Dquarkus.config.locations={TEMPLATES / 'application.properties'}",
                "-jar",
                str(runners[0]),
            ],
            cwd=self.home,
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/subjects", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def purge(self) -> None:
        """Nothing to delete: storage is in memory."""
