"""The `notify:` section is validated like every other: a route naming a channel that does not exist, or a
channel without what it needs, is refused with the file, line and key; its metrics port takes part in the clash
check; `seamline notify` without the section says what to add."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from seamline.cli.main import app
from seamline.config import ConfigError, load_config
from seamline.config_checks import port_clashes

NOTIFY = """\
notify:
  metrics_port: 9103
  channels:
    oncall-mail:
      kind: email
      host: smtp.example.com
      from: seamline@example.com
      to: [oncall@example.com]
    team-slack:
      kind: slack
      webhook_url: https://hooks.slack.com/services/T0/B0/x
  routes:
    - stages: ["sink.*"]
      channels: [oncall-mail, team-slack]
    - channels: [pager]
"""
SINK = """\
sinks:
  warehouse:
    kind: postgres
    dsn: postgresql://seamline@127.0.0.1/warehouse
    tables: {customer: customers}
"""


def test_a_route_naming_an_unknown_channel_is_refused_where_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "seamline.yaml"
    path.write_text(NOTIFY)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == (
        f"{path}:15: notify.routes.1.channels: no channel 'pager' under notify.channels: use one of oncall-mail, "
        "team-slack"
    )
    path.write_text(NOTIFY.replace("      to: [oncall@example.com]\n", ""))
    with pytest.raises(ConfigError, match=r":4: notify.channels.oncall-mail.to: required key missing"):
        load_config(path)


def test_the_notify_metrics_port_takes_part_in_the_clash_check(tmp_path: Path) -> None:
    path = tmp_path / "seamline.yaml"
    path.write_text(NOTIFY.replace("[pager]", "[team-slack]") + SINK)
    (problem,) = port_clashes(load_config(path))
    assert problem[0] == ("notify", "metrics_port") and "sinks.warehouse.metrics_port (its default)" in problem[1]


def test_notify_without_its_section_says_what_to_add(tmp_path: Path) -> None:
    path = tmp_path / "seamline.yaml"
    path.write_text(SINK)
    result = CliRunner().invoke(app, ["notify", "-c", str(path)])
    assert result.exit_code == 2 and "has no 'notify' section" in result.output


def test_the_example_of_docs_operations_is_a_valid_notify_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    example = page.split("## `seamline notify`", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    for name in ("SMTP_PASSWORD", "SLACK_WEBHOOK_URL", "TWILIO_AUTH_TOKEN", "TICKETS_TOKEN"):
        monkeypatch.setenv(name, "secret")
    path = tmp_path / "seamline.yaml"
    path.write_text(example)
    notify = load_config(path).notify
    assert notify is not None and list(notify.channels) == ["oncall-mail", "team-slack", "oncall-sms", "ticketing"]
    assert [notify.route_name(index) for index in range(3)] == ["erp-writes", "data", "route3"]
