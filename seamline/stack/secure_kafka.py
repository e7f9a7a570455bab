"""A second local Kafka reachable over SASL_SSL only: TLS certificates of its own, SCRAM-SHA-512 users, ACLs.

It runs beside the plain broker from the same jars, on 127.0.0.1:9094 (SASL_SSL) and 9095 (the controller,
TLS with client certificates). Every user but `admin` (a super user) can do only what its ACLs grant
(seamline/acls.py). Certificates and passwords are made at the first start and kept, readable by their owner
only, in <state>/kafka-secure.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
from pathlib import Path
from string import Template

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.stack.kafka import TEMPLATES, Kafka
from seamline.stack.layout import HOST
from seamline.stack.ports import port_open
from seamline.stack.private_files import write_private

USERS = ("admin", "source", "processor", "sink")
BROKER_NAME = "seamline-broker"


class SecureKafka(Kafka):
    """SASL_SSL on 127.0.0.1:9094, controller on 9095; data in <state>/kafka-secure/data."""

    name = "kafka-secure"
    ports = (9094, 9095)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.home = root / "kafka-secure"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"
        self.ca = self.home / "ca.pem"
        self.keystore = self.home / "broker.pem"
        self.users = self.home / "users.json"

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.keystore.is_file():
            _issue_certificates(self.ca, self.keystore)
        if not self.users.is_file():
            write_private(self.users, json.dumps({user: secrets.token_urlsafe(18) for user in USERS}))
        template = Template((TEMPLATES / "secure.properties").read_text())
        rendered = template.substitute(
            data_dir=self.data,
            port=self.ports[0],
            controller_port=self.ports[1],
            keystore=self.keystore,
            truststore=self.ca,
            admin_password=self.password("admin"),
        )
        write_private(self.config, rendered)
        if not (self.data / "meta.properties").is_file():
            self._format_storage()

    def _format_options(self) -> list[str]:
        return super()._format_options() + [
            option
            for user in USERS
            for option in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={self.password(user)}]")
        ]

    def password(self, user: str) -> str:
        """The SCRAM password of `user`."""
        return str(json.loads(self.users.read_text())[user])

    def kafka_config(self, user: str, topic_prefix: str = "") -> KafkaConfig:
        """How `user` reaches this broker."""
        return KafkaConfig(
            bootstrap_servers=self.address,
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=user,
            sasl_password=self.password(user),
            ssl_ca_location=self.ca,
            topic_prefix=topic_prefix,
        )

    def healthy(self) -> bool:
        if not (port_open(HOST, self.ports[0]) and self.users.is_file()):
            return False
        admin = AdminClient(client_settings(self.kafka_config("admin"), "admin", log_level=0))
        try:
            return bool(admin.list_topics(timeout=5).brokers)
        except KafkaException:
            return False


def _issue_certificates(ca_path: Path, keystore_path: Path) -> None:
    """A CA of its own, and the broker's key and certificate (127.0.0.1, localhost) signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seamline local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    broker = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BROKER_NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    write_private(ca_path, ca.public_bytes(pem).decode())
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(keystore_path, (private + broker.public_bytes(pem) + ca.public_bytes(pem)).decode())
