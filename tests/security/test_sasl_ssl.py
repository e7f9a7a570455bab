"""seamline on a Kafka reachable over SASL_SSL only (SCRAM-SHA-512, certificates made for the test, ACLs enforced)
and a schema registry behind TLS and basic authentication: no unauthenticated or unverified client gets in; the
source, the Faust processor (aiokafka) and the sink each run with a principal of their own and only its ACLs; a
component acting outside its ACLs stops, saying so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from pydantic import SecretStr

from sandbox.erp import SampleData, insert
from seamline.config import load_config
from seamline.kafka_settings import client_settings
from seamline.operations.convergence import compare
from seamline.operations.local_pipeline import SINK, SOURCE, LocalPipeline
from seamline.retry import HTTP_ERRORS
from seamline.serde import registry_client
from seamline.stack import StackInfo
from seamline.stack.processes import Supervisor
from seamline.stack.registry_proxy import RegistryProxy
from seamline.stack.secure_kafka import SecureKafka
from seamline.stack.service import Service, ensure_ports_free, launch, stop, wait_healthy
from tests.command import seamline
from tests.conftest import wait_until

# exclusive: a second, secure broker on fixed ports (9094, 9095) beside the stack's
pytestmark = [pytest.mark.slow, pytest.mark.exclusive]

COMPONENTS = {"source": ["source", "run", SOURCE], "processor": ["process"], "sink": ["sink", "run", SINK]}


S = TypeVar("S", bound=Service)


def running(service: S) -> Iterator[S]:
    """The service started for a module's tests (unless it runs already), then stopped and its data deleted."""
    if service.pid() is None:
        ensure_ports_free(service)
        service.install()
        launch(service)
    wait_healthy(service)
    yield service
    stop(service)
    service.purge()


@pytest.fixture(scope="module")
def secure(stack: StackInfo) -> Iterator[SecureKafka]:
    """The SASL_SSL broker."""
    yield from running(SecureKafka(stack.state_dir))


@pytest.fixture(scope="module")
def registry_proxy(stack: StackInfo, secure: SecureKafka) -> Iterator[RegistryProxy]:
    """The registry behind TLS (the broker's certificate) and basic authentication."""
    yield from running(RegistryProxy(stack.state_dir, secure.keystore, secure.ca))


def refused(settings: dict[str, Any]) -> str:
    with pytest.raises(KafkaException) as caught:
        AdminClient({**settings, "log_level": 0}).list_topics(timeout=5)
    return str(caught.value)


def test_only_authenticated_clients_that_verify_the_broker_get_in(secure: SecureKafka) -> None:
    admin = client_settings(secure.kafka_config("admin"), "admin")
    assert AdminClient(admin).list_topics(timeout=15).brokers
    refused({"bootstrap.servers": secure.address})  # plaintext: the broker speaks TLS only
    refused({**admin, "sasl.password": "wrong"})
    refused({**admin, "ssl.ca.location": "probe"})  # a broker certificate nobody vouched for
    admin.pop("ssl.ca.location")
    refused(admin)


def component_config(pipeline: LocalPipeline, secure: SecureKafka, proxy: RegistryProxy, user: str) -> Path:
    """The pipeline's configuration file with Kafka settings for `user` on the SASL_SSL broker, and the
    registry behind the authenticating proxy."""
    document = yaml.safe_load(pipeline.config_path.read_text())
    kafka = proxy.kafka_config(secure.kafka_config(user, topic_prefix=document["kafka"]["topic_prefix"]))
    document["kafka"] = kafka.model_dump(mode="json") | {
        "sasl_password": secure.password(user),
        "schema_registry_password": proxy.password,
    }
    path = pipeline.work_dir / f"{user}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def grant_all(pipeline: LocalPipeline, secure: SecureKafka, registry_proxy: RegistryProxy) -> None:
    """`seamline acls --create`, connecting as the admin."""
    created = seamline("acls", "--config", str(component_config(pipeline, secure, registry_proxy, "admin")), "--create")
    assert created.returncode == 0 and "ACLs created" in created.stderr, created.stderr


def test_each_component_runs_with_its_own_principal_and_acls(
    pipeline: LocalPipeline, secure: SecureKafka, registry_proxy: RegistryProxy, tmp_path: Path
) -> None:
    configs = {user: component_config(pipeline, secure, registry_proxy, user) for user in COMPONENTS}
    config = load_config(configs["source"])
    grant_all(pipeline, secure, registry_proxy)
    with psycopg.connect(pipeline.erp_dsn) as conn:
        insert(conn, list(SampleData(seed=5).customers(60)))
    supervisors = [Supervisor(configs[user], tmp_path / "logs", {user: COMPONENTS[user]}) for user in COMPONENTS]
    try:
        for supervisor, user in zip(supervisors, COMPONENTS, strict=True):
            supervisor.start(user)

        def in_sync() -> bool:
            for supervisor in supervisors:
                crashed = supervisor.crashed()
                assert not crashed, "\n".join(map(supervisor.log_tail, crashed))
            return compare(config, pipeline.erp_dsn, pipeline.target_dsn).ok

        wait_until(in_sync, 120, "the target to match the ERP over SASL_SSL")
    finally:
        for supervisor in supervisors:
            supervisor.stop_all()
    logs = "".join(path.read_text() for path in (tmp_path / "logs").glob("*.log"))
    for user in COMPONENTS:
        assert secure.password(user) not in logs, f"the {user} password is in a log"
    assert registry_proxy.password not in logs, "the registry password is in a log"


def test_a_component_acting_outside_its_acls_stops_saying_what_was_refused(
    pipeline: LocalPipeline, secure: SecureKafka, registry_proxy: RegistryProxy, tmp_path: Path
) -> None:
    as_source = component_config(pipeline, secure, registry_proxy, "source")  # the source's principal runs the sink
    grant_all(pipeline, secure, registry_proxy)
    supervisor = Supervisor(as_source, tmp_path / "logs", {"sink": COMPONENTS["sink"]})
    supervisor.start("sink")
    exits: dict[str, int] = {}
    try:
        wait_until(lambda: bool(exits.update(supervisor.crashed()) or exits), 60, "the sink to stop")
        log = supervisor.log_tail("sink")
    finally:
        supervisor.stop_all()
    assert exits == {"sink": 2}, log
    assert "Kafka refused" in log and "to User:source" in log and "grant the component's ACLs" in log, log


def test_the_registry_lets_in_only_authenticated_clients_that_verify_it(
    secure: SecureKafka, registry_proxy: RegistryProxy
) -> None:
    kafka = registry_proxy.kafka_config(secure.kafka_config("source"))
    assert isinstance(registry_client(kafka).get_subjects(), list)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"schema_registry_password": SecretStr("wrong")}, "401"),
        ({"schema_registry_user": None}, "401"),
        ({"ssl_ca_location": None}, "CERTIFICATE_VERIFY_FAILED"),
        ({"schema_registry_url": registry_proxy.url.replace("https", "http")}, "400"),
    ]
    for wrong, expected in cases:
        with pytest.raises((SchemaRegistryError, *HTTP_ERRORS)) as caught:
            registry_client(kafka.model_copy(update=wrong)).get_subjects()
        assert expected in str(caught.value), (wrong, caught.value)
