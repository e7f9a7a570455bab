"""deploy/prometheus and deploy/alertmanager: the configurations are valid, every alert rule passes its unit
tests, and a real Alertmanager with our configuration notifies the webhook and Slack with the connector and why."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from seamline.stack.ports import free_port
from seamline.stack.prometheus import CONFIG_DIR, tool
from tests.conftest import wait_until

ALERTMANAGER_DIR = CONFIG_DIR.parent / "alertmanager"


def run(*argv: str, cwd: Path) -> str:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_prometheus_configuration_and_rules_are_valid() -> None:
    promtool = tool("promtool")
    assert "SUCCESS: 7 rules found" in run(promtool, "check", "rules", "alerts.yml", cwd=CONFIG_DIR)
    assert "is valid prometheus config file syntax" in run(
        promtool, "check", "config", "prometheus.yml", cwd=CONFIG_DIR
    )


def test_every_alert_rule_passes_its_unit_tests() -> None:
    rules = yaml.safe_load((CONFIG_DIR / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = yaml.safe_load((CONFIG_DIR / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert tested == {rule["alert"] for rule in rules}, "every alert has a unit test in which it fires"
    assert "SUCCESS" in run(tool("promtool"), "test", "rules", "alerts_test.yml", cwd=CONFIG_DIR)


def test_alertmanager_configuration_is_valid() -> None:
    assert "SUCCESS" in run(tool("amtool"), "check-config", "alertmanager.yml", cwd=ALERTMANAGER_DIR)


class Receiver(ThreadingHTTPServer):
    """Collects the JSON bodies posted to it, by path."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.setdefault(self.path, []).append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_alertmanager_notifies_webhook_and_slack_with_the_connector_and_the_reason(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = yaml.safe_load((ALERTMANAGER_DIR / "alertmanager.yml").read_text())
    config["route"]["group_wait"] = "1s"
    for entry in config["receivers"]:
        for webhook in entry.get("webhook_configs", []):
            webhook["url"] = f"{receiver.url}/alerts"
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "slack_webhook_url").write_text(f"{receiver.url}/slack")
    (tmp_path / "secrets" / "smtp_password").write_text("not-used")
    (tmp_path / "templates").symlink_to(ALERTMANAGER_DIR / "templates")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    tool("amtool")
    port = free_port()
    process = subprocess.Popen(
        [
            "prometheus-alertmanager",
            "--config.file=alertmanager.yml",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "alertmanager.log").open("w"),
    )
    try:
        api = f"http://127.0.0.1:{port}/api/v2"
        wait_until(lambda: _ready(api), 30, "alertmanager ready", interval=0.1)
        alert = {
            "labels": {"alertname": "SeamlineSinkFailing", "severity": "critical", "sink": "erp"},
            "annotations": {
                "summary": "sink erp cannot write into its target",
                "description": "Sink erp retried 10 batches in 5 minutes",
            },
        }
        assert httpx.post(f"{api}/alerts", json=[alert], timeout=10).status_code == 200
        wait_until(
            lambda: {"/alerts", "/slack"} <= set(receiver.received), 30, "webhook and slack notified", interval=0.1
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    (webhook,) = receiver.received["/alerts"]
    assert webhook["status"] == "firing"
    assert webhook["commonLabels"] == {"alertname": "SeamlineSinkFailing", "severity": "critical", "sink": "erp"}
    assert webhook["alerts"][0]["annotations"]["summary"] == "sink erp cannot write into its target"
    (slack,) = receiver.received["/slack"]
    (attachment,) = slack["attachments"]
    assert slack["channel"] == "#integration-alerts"
    assert attachment["title"] == "[FIRING:1] SeamlineSinkFailing sink erp"
    assert attachment["text"].split("\n")[:2] == [
        "sink erp cannot write into its target",
        "Sink erp retried 10 batches in 5 minutes",
    ]


def _ready(api: str) -> bool:
    try:
        return httpx.get(f"{api}/status", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
