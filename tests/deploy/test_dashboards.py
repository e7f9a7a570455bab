"""The Grafana dashboards: well-formed, naming only metrics seamline exports, and every panel's query returns
data from a real pipeline that the stack's Prometheus scrapes."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from prometheus_client import CollectorRegistry

from sandbox.erp import ChangeStream, SampleData, insert
from sandbox.s4hana import S4HanaSim
from sandbox.serving import BackgroundServer
from sandbox.slack import Slack
from seamline.metrics import Metrics
from seamline.operations.local_pipeline import SINK, SOURCE, LocalPipeline
from seamline.stack import StackInfo
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from tests.conftest import wait_until
from tests.sinks.s4_customers import customer_sink

GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
RATE_INTERVAL = "30s"

TARGET_LABELS = {"instance", "job", "process"}
"""Labels Prometheus adds to every series from its scrape target (deploy/prometheus/prometheus.yml)."""
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def panels(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["panels"])


def exported_series() -> dict[str, set[str]]:
    """Every series name seamline's metrics produce, with the labels it can be selected by (its own and the
    scrape target's), read from a fresh `Metrics`; plus Prometheus' `up`."""
    metrics = Metrics.create(CollectorRegistry())
    series = {"up": set(TARGET_LABELS)}
    for field in dataclasses.fields(metrics):
        metric = getattr(metrics, field.name)
        if isinstance(metric, CollectorRegistry):
            continue
        labels = {*metric._labelnames, *TARGET_LABELS}
        suffixes = {
            "counter": {"_total": labels},
            "gauge": {"": labels},
            "histogram": {"_bucket": labels | {"le"}, "_sum": labels, "_count": labels},
        }[metric._type]
        series.update({metric._name + suffix: names for suffix, names in suffixes.items()})
    return series


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """Each `metric{matchers}` selector of a PromQL expression: the metric and the labels it matches on."""
    return [
        (name, set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers)))
        for name, matchers in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr)
    ]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (identifiers outside strings, matchers, ranges and groupings,
    that are not functions or keywords)."""
    bare = re.sub(r'"[^"]*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    return {
        name
        for name, call in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(?)", bare)
        if not call and name not in _KEYWORDS
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_is_well_formed_and_names_only_exported_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] == path.stem and dashboard["schemaVersion"] >= 39
    known = exported_series()
    ids = [panel["id"] for panel in panels(path)]
    assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
    for panel in panels(path):
        where = f"{path.name}: panel {panel['title']!r}"
        assert panel["datasource"] == DATASOURCE, where
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["fieldConfig"]["defaults"]["unit"], f"{where} has no unit"
        assert panel["targets"], f"{where} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and target["legendFormat"], where
            unknown = metric_names(target["expr"]) - set(known)
            assert not unknown, f"{where} queries {sorted(unknown)}, which seamline does not export"
            for name, labels in selector_labels(target["expr"]):
                assert labels <= known[name], f"{where}: {name} has no label {sorted(labels - known[name])}"
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"] == DATASOURCE and variable["definition"].startswith("label_values(")
        ((name, labels),) = selector_labels(variable["definition"])
        label = variable["definition"].rsplit(", ", 1)[1].rstrip(")")
        assert labels | {label} <= known[name], f"{path.name}: variable {variable['name']}"


def test_provisioning_names_the_datasource_the_dashboards_use() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["type"] == datasource["uid"] == "prometheus"
    assert datasource["url"] == "${PROMETHEUS_URL}"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "seamline.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["folder"] == "seamline"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/seamline"


class PrometheusApi:
    """Instant queries and label values against the stack's Prometheus."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", f"{expr}: {answer}"
        return list(answer["data"]["result"])

    def label_values(self, definition: str) -> list[str]:
        """The values of `label_values(selector, label)` among the series scraped now: the label values API answers
        for every series in the head block, including those of an earlier test's process that had the same port."""
        match = re.fullmatch(r"label_values\((.*), (\w+)\)", definition)
        assert match, definition
        selector, label = match.groups()
        return sorted({series["metric"][label] for series in self.query(f"group by ({label}) ({selector})")})


@dataclasses.dataclass(frozen=True)
class PanelQuery:
    """One target of a dashboard panel, $instance and $__rate_interval filled in, with the label_values
    definitions of the template variables it uses."""

    where: str
    title: str
    expr: str
    variables: dict[str, str]


def panel_queries(instance: str) -> list[PanelQuery]:
    """Every target of every dashboard."""
    queries = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        definitions = {
            variable["name"]: variable["definition"].replace("$instance", instance)
            for variable in dashboard["templating"]["list"]
            if variable["name"] != "instance"
        }
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$instance", instance).replace("$__rate_interval", RATE_INTERVAL)
                used = {name: text for name, text in definitions.items() if f"${name}" in expr}
                where = f"{path.stem}: {panel['title']} [{target['refId']}]"
                queries.append(PanelQuery(where, panel["title"], expr, used))
    return queries


def empty_queries(prometheus: PrometheusApi, instance: str) -> list[str]:
    """Panel targets that return no series for any value of their template variables."""
    empty = []
    for query in panel_queries(instance):
        choices = [[(name, value) for value in prometheus.label_values(text)] for name, text in query.variables.items()]
        for combination in itertools.product(*choices):
            filled = query.expr
            for name, value in combination:
                filled = filled.replace(f"${name}", value)
            if prometheus.query(filled):
                break
        else:
            empty.append(query.where)
    return empty


def drive_changes(pipeline: LocalPipeline, data: SampleData) -> None:
    """Updates, inserts and deletes, two customers merged by a shared e-mail, the sink's connection dropped
    under a write so that the sink retries, and a phone that is no number."""
    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        changes = ChangeStream(conn, data)
        for _ in range(30):
            changes.step()
        first_row = conn.execute(
            "SELECT id, email FROM customers WHERE email NOT LIKE '%%@' ORDER BY id LIMIT 1"
        ).fetchone()
        last_row = conn.execute(
            "SELECT id FROM customers WHERE email NOT LIKE '%%@' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        assert first_row is not None and last_row is not None, "the sample ERP has customers"
        (first, email), (second,) = first_row, last_row
        assert first != second
        conn.execute("UPDATE customers SET email = %s, updated_at = now() WHERE id = %s", (email, second))
        target_db = pipeline.target_dsn.rsplit("/", 1)[1].split("?")[0]
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (target_db,),
        )
        for _ in range(10):
            changes.step()
        # a phone that is no number: the customer goes on without it, a data-quality record counts it
        conn.execute("UPDATE customers SET phone = 'call me', updated_at = now() WHERE id = %s", (first,))


def match_customers_by_email(pipeline: LocalPipeline) -> None:
    """Give the demo's processor an e-mail match rule, so that two customers sharing an e-mail merge."""
    config = yaml.safe_load(pipeline.config_path.read_text())
    config["processor"]["identity"] = {"customer": {"match": ["email"]}}
    pipeline.config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))


def add_polling_source_and_http_sink(pipeline: LocalPipeline, erp_api: S4HanaSim) -> dict[str, int]:
    """Beside the demo's streaming source and postgres sink: a sql_poll source of the same ERP table (its own
    system, so the processor leaves its topic alone) and an http sink of customers into the ERP simulation,
    whose panels (poll duration, circuit breaker) the demo alone leaves empty. Their metrics ports by process."""
    config = yaml.safe_load(pipeline.config_path.read_text())
    ports = {"poll": free_port(), "erp-api": free_port()}
    config["sources"]["poll"] = {
        "kind": "sql_poll",
        "dsn": pipeline.erp_dsn.replace("postgresql://", "postgresql+psycopg://", 1),
        "system": "erp_poll",
        "table": "customers",
        "timestamp_column": "updated_at",
        "poll_interval_s": 0.5,
        "metrics_port": ports["poll"],
    }
    config["sinks"]["erp-api"] = customer_sink(
        erp_api,
        erp_api.password,
        group_id=f"{pipeline.config.kafka.topic_prefix}erp-api",
        metrics_port=ports["erp-api"],
    )
    pipeline.config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return ports


def add_notify(pipeline: LocalPipeline, slack_url: str) -> int:
    """A notify process announcing the pipeline's dead letters (the sample's invalid e-mails) on a Slack
    simulation; its metrics port."""
    config = yaml.safe_load(pipeline.config_path.read_text())
    port = free_port()
    config["notify"] = {
        "metrics_port": port,
        "channels": {"slack": {"kind": "slack", "webhook_url": slack_url}},
        "routes": [{"channels": ["slack"]}],
    }
    pipeline.config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return port


def target_rows(pipeline: LocalPipeline) -> int:
    with psycopg.connect(pipeline.target_dsn) as conn:
        if conn.execute("SELECT to_regclass('customers')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT count(*) FROM customers").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.slow
def test_every_panel_query_returns_data_from_a_running_pipeline(
    stack: StackInfo, pipeline: LocalPipeline, processes: Supervisor
) -> None:
    config = pipeline.config
    assert config.processor is not None
    erp_api = S4HanaSim()
    erp_api.start()
    extra_ports = add_polling_source_and_http_sink(pipeline, erp_api)
    slack, slack_server = Slack(), BackgroundServer("slack-sim")
    extra_ports["notify"] = add_notify(pipeline, slack_server.start(slack.app()) + slack.path)
    ports = [
        config.sources[SOURCE].metrics_port,
        config.processor.metrics_port,
        config.sinks[SINK].metrics_port,
        *extra_ports.values(),
    ]
    instance = "127.0.0.1:(" + "|".join(str(port) for port in ports) + ")"
    extra = Supervisor(
        pipeline.config_path,
        pipeline.work_dir / "logs",
        {"poll": ["source", "run", "poll"], "erp-api": ["sink", "run", "erp-api"], "notify": ["notify"]},
    )
    prometheus = PrometheusApi(stack.prometheus_url)
    match_customers_by_email(pipeline)
    data = SampleData(seed=5, invalid_every=20)
    with psycopg.connect(pipeline.erp_dsn) as conn:
        insert(conn, list(data.customers(200)))
    processes.start_all()
    extra.start_all()
    try:
        watch_every_panel(pipeline, [processes, extra], prometheus, instance, data)
    finally:
        extra.stop_all()
        erp_api.stop()
        slack_server.stop()


def watch_every_panel(
    pipeline: LocalPipeline,
    supervisors: list[Supervisor],
    prometheus: PrometheusApi,
    instance: str,
    data: SampleData,
) -> None:
    """Drive changes through the running pipeline until every panel query has data for its processes."""

    def running(check: bool) -> bool:
        for processes in supervisors:
            assert not processes.crashed(), "\n".join(processes.log_tail(name) for name in processes.crashed())
        return check

    wait_until(lambda: running(target_rows(pipeline) > 0), 120, "the snapshot to reach the target")
    drive_changes(pipeline, data)
    wait_until(
        lambda: running(bool(prometheus.query(f'seamline_sink_retries_total{{instance=~"{instance}"}}'))),
        90,
        "the sink to retry the write whose connection was dropped",
    )

    query = f'label_values(seamline_source_lag_seconds{{instance=~"{instance}"}}, source)'
    wait_until(lambda: running(set(prometheus.label_values(query)) >= {SOURCE, "poll"}), 60, "both sources' lag")
    assert set(prometheus.label_values(query)) == {SOURCE, "poll"}
    empty: list[str] = []

    def filled() -> bool:
        empty[:] = empty_queries(prometheus, instance)
        return running(not empty)

    try:
        wait_until(filled, 90, "every panel query to return data", interval=5)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; still empty:\n" + "\n".join(empty)) from None
