"""The local schema registry behind TLS and HTTP basic authentication: nginx (Debian's nginx-light) in front of it.

It listens on 127.0.0.1:8444 with a certificate the caller gives (the SASL_SSL broker's, signed by the same
CA), and lets in one user, `seamline`, whose password is made at the first start and kept, readable by its
owner only, in <state>/registry-proxy.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
from pathlib import Path
from string import Template

import httpx
from pydantic import SecretStr

from seamline.config import KafkaConfig
from seamline.stack import processes
from seamline.stack.installs import apt_install
from seamline.stack.layout import DEPLOY_DIR, HOST
from seamline.stack.private_files import write_private
from seamline.stack.registry import CCOMPAT_PATH, Registry
from seamline.stack.service import Service

USER = "seamline"


class RegistryProxy(Service):
    """https://127.0.0.1:8444 with basic authentication, passing requests on to the registry on 8081."""

    name = "registry-proxy"
    ports = (8444,)

    def __init__(self, root: Path, certificate: Path, ca: Path) -> None:
        super().__init__(root)
        self.home = root / "registry-proxy"
        self.certificate, self.ca = certificate, ca
        self.password_file = self.home / "password"

    @property
    def url(self) -> str:
        """Base URL of the Confluent-compatible API through the proxy."""
        return f"https://{HOST}:{self.ports[0]}{CCOMPAT_PATH}"

    @property
    def password(self) -> str:
        return self.password_file.read_text()

    def kafka_config(self, kafka: KafkaConfig) -> KafkaConfig:
        """`kafka` reaching the registry through this proxy, authenticated and verifying its certificate."""
        return kafka.model_copy(
            update={
                "schema_registry_url": self.url,
                "schema_registry_user": USER,
                "schema_registry_password": SecretStr(self.password),
                "ssl_ca_location": self.ca,
            }
        )

    def install(self) -> None:
        if shutil.which("nginx") is None:
            apt_install("nginx-light", "nginx not found", "install it (`apt-get install nginx-light`) and rerun")

    def prepare(self) -> None:
        (self.home / "tmp").mkdir(parents=True, exist_ok=True)
        if not self.password_file.is_file():
            write_private(self.password_file, secrets.token_urlsafe(18))
        salt = secrets.token_bytes(8)
        digest = hashlib.sha1(self.password.encode() + salt).digest()  # noqa: S324 - nginx's {SSHA} scheme
        write_private(self.home / "htpasswd", f"{USER}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n")
        template = Template((DEPLOY_DIR / "registry-proxy" / "nginx.conf").read_text())
        rendered = template.substitute(
            home=self.home,
            host=HOST,
            port=self.ports[0],
            certificate=self.certificate,
            registry=f"{HOST}:{Registry.ports[0]}",
        )
        write_private(self.home / "nginx.conf", rendered)

    def command(self) -> processes.Command:
        nginx = shutil.which("nginx")
        assert nginx is not None, "install() first"
        return processes.Command([nginx, "-c", str(self.home / "nginx.conf"), "-e", "stderr"], cwd=self.home)

    def healthy(self) -> bool:
        try:
            answer = httpx.get(f"{self.url}/subjects", auth=(USER, self.password), verify=str(self.ca), timeout=2)
        except (httpx.HTTPError, OSError):
            return False
        return answer.status_code == 200

    def purge(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
