"""Apache Kafka 4.1, KRaft, one combined broker+controller, from Maven Central jars."""

import base64
import shutil
import subprocess
import uuid
from pathlib import Path
from string import Template
from typing import ClassVar

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from seamline.stack import processes, toolchain
from seamline.stack.errors import StackError
from seamline.stack.installs import install_once
from seamline.stack.layout import DEPLOY_DIR, HOST
from seamline.stack.ports import port_open
from seamline.stack.service import Service

TEMPLATES = DEPLOY_DIR / "kafka"
SERVER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
JVM_OPTIONS = ["-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"]


def new_cluster_id() -> str:
    """A random KRaft cluster id."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class Kafka(Service):
    """Client listener 127.0.0.1:9092, controller 127.0.0.1:9093, a listener for network fault tests on 9096
    (deploy/local/kafka/server.properties); data in <state>/kafka/data."""

    name = "kafka"
    ports: ClassVar[tuple[int, ...]] = (9092, 9093, 9096)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.home = root / "kafka"
        self.libs = self.home / "libs"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"

    def install(self) -> None:
        toolchain.java()
        install_once(
            self.libs,
            TEMPLATES / "pom.xml",
            lambda staging: toolchain.maven_fetch(TEMPLATES / "pom.xml", "copy-dependencies", staging, "Kafka"),
        )

    def prepare(self) -> None:
        template = Template((TEMPLATES / "server.properties").read_text())
        self.config.write_text(template.substitute(data_dir=self.data))
        if not (self.data / "meta.properties").is_file():
            self._format_storage()

    def _format_storage(self, cluster_id: str | None = None) -> None:
        cluster_id = cluster_id or new_cluster_id()
        result = subprocess.run(
            self._java(STORAGE_TOOL_MAIN, "format", "-t", cluster_id, "-c", str(self.config), *self._format_options()),
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            raise StackError(f"formatting Kafka storage in {self.data} failed: {result.stderr.strip()[-500:]}")

    def _format_options(self) -> list[str]:
        """More options of the storage tool's format command: the quorum (one voter) and SCRAM users."""
        return ["--standalone"]

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            toolchain.java(),
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={TEMPLATES / 'log4j2.yaml'}",
            f"-Dseamline.log.file={self.log_file}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def command(self) -> processes.Command:
        return processes.Command(self._java(SERVER_MAIN, str(self.config)), cwd=self.home)

    def healthy(self) -> bool:
        if not port_open(HOST, self.ports[0]):
            return False
        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
        try:
            return bool(admin.list_topics(timeout=5).brokers)
        except KafkaException:
            return False

    def purge(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        self.config.unlink(missing_ok=True)
