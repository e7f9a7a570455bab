"""Configuration loading: good files load, bad ones are refused with the line, the key and the fix."""

from pathlib import Path

import pytest

from producers.postgres_cdc.config import PostgresCdcSource
from seamline.config import ConfigError, load_config
from seamline.topics import sink_group, state_changelog_topic, tool_group
from sinks.postgres.config import PostgresSink

GOOD = """\
kafka:
  bootstrap_servers: 127.0.0.1:9092
sources:
  erp:
    kind: postgres_cdc
    dsn: postgresql://seamline:${ERP_PASSWORD}@127.0.0.1:55432/erp
    system: erp
    tables: [customers]
    slot: seamline_erp
    publication: seamline_erp
processor:
  mappings:
    - source: erp.customers
      entity: customer
      fields: {name: name, email: email}
sinks:
  warehouse:
    kind: postgres
    dsn: postgresql://127.0.0.1:55432/warehouse
    tables: {customer: customers}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "seamline.yaml"
    path.write_text(text)
    return path


def test_good_file_loads_and_interpolates_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PASSWORD", "s3cret")
    config = load_config(write(tmp_path, GOOD))
    source, sink = config.sources["erp"], config.sinks["warehouse"]
    assert isinstance(source, PostgresCdcSource) and isinstance(sink, PostgresSink)
    assert source.dsn.get_secret_value() == "postgresql://seamline:s3cret@127.0.0.1:55432/erp"
    assert "s3cret" not in repr(config)
    assert sink.tables == {"customer": "customers"}


def test_missing_env_var_names_it_and_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ERP_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match=r"seamline.yaml:6: environment variable ERP_PASSWORD is not set"):
        load_config(write(tmp_path, GOOD))


def test_wrong_type_names_line_key_and_expectation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PASSWORD", "x")
    bad = GOOD.replace("tables: [customers]", "tables: 42")
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, bad))
    assert "seamline.yaml:8: sources.erp.tables: Input should be a valid list" in str(error.value)


def test_unknown_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PASSWORD", "x")
    bad = GOOD.replace("  bootstrap_servers:", "  bootstrap_server:")
    with pytest.raises(
        ConfigError, match=r"seamline.yaml:2: kafka.bootstrap_server: unknown key: did you mean 'bootstrap_servers'\?"
    ):
        load_config(write(tmp_path, bad))


def test_unknown_kind_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PASSWORD", "x")
    bad = GOOD.replace("kind: postgres_cdc", "kind: oracle")
    with pytest.raises(ConfigError, match=r"sources.erp: Input tag 'oracle' found using 'kind' does not match"):
        load_config(write(tmp_path, bad))


def test_not_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "kafka: [unclosed"))


RULES = """\
processor:
  lookups:
    countries: {Deutschland: DE, 1: US, false: FR}
    fx_usd: {EUR: 1.1}
  mappings:
    - source: erp.customers
      entity: customer
      fields:
        name:
          concat: [first_name, {constant: "-"}, last_name]
          separator: " "
        email: {column: email}
        phone: {split: phones, separator: ";", index: 0}
        country: {lookup: countries, column: land, default: null}
"""


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    return str(error.value)


def test_field_rules_load_as_typed_rules_with_text_lookup_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, RULES))
    assert config.processor is not None
    assert config.processor.lookups["countries"] == {"Deutschland": "DE", "1": "US", "false": "FR"}
    fields = config.processor.mappings[0].fields
    assert type(fields["name"]).__name__ == "ConcatRule" and type(fields["country"]).__name__ == "LookupRule"


@pytest.mark.parametrize(
    ("rule", "key", "message"),
    [
        ("nme: full_name", "fields.nme", "customer has no field 'nme': use one of name, email, phone, country"),
        ("id: customer_id", "fields.id", "id is set by seamline itself: map only name, email, phone, country"),
        (
            "country: {lookup: regions, column: land}",
            "fields.country.lookup",
            "lookup table 'regions' is not declared under processor.lookups (countries, fx_usd)",
        ),
        (
            "country: {convert: price, from_unit: EUR, to_unit: USD, rates: fx}",
            "fields.country.rates",
            "lookup table 'fx' is not declared under processor.lookups",
        ),
        (
            "country: {each: lines, fields: {sku: article}}",
            "fields.country.each",
            "customer.country is not a list of records: `each` maps a list of lines",
        ),
        (
            "country: {cast: integer, column: land}",
            "fields.country.cast",
            "Input should be 'int', 'decimal', 'text', 'bool', 'date' or 'timestamp'",
        ),
        (
            "country: {convert: weight, from_unit: lb, to_unit: kg}",
            "fields.country.from_unit",
            "unknown unit 'lb': use one of mg, g, kg, t, mm, cm, m, km, ml, l, pcs or a currency code",
        ),
        (
            "country: {convert: weight, from_unit: kg, to_unit: m}",
            "fields.country.to_unit",
            "cannot convert mass into length",
        ),
        (
            "country: {convert: price, from_unit: EUR, to_unit: USD}",
            "fields.country.to_unit",
            "converting currencies needs `rates`",
        ),
        ("country: {colum: land}", "fields.country", "a field rule is a source column name or a mapping with one of"),
        ("country: {split: tags}", "fields.country.index", "required key missing: add `index:` here"),
    ],
)
def test_a_bad_field_rule_is_refused_with_its_line_and_key_path(
    tmp_path: Path, rule: str, key: str, message: str
) -> None:
    text = RULES.replace("country: {lookup: countries, column: land, default: null}", rule)
    problem = refusal(tmp_path, text)
    assert f"seamline.yaml:{line_of(text, rule)}: processor.mappings.0.{key}: " in problem, problem
    assert message in problem, problem
    assert len(problem.splitlines()) == 1, problem


def test_every_rule_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    text = RULES.replace("email: {column: email}", "mail: {column: email}").replace(
        "lookup: countries", "lookup: lands"
    )
    problems = refusal(tmp_path, text).splitlines()
    assert problems == [
        f"{tmp_path / 'seamline.yaml'}:{line_of(text, 'mail:')}: processor.mappings.0.fields.mail: "
        "customer has no field 'mail': use one of name, email, phone, country, tax_id, street, postcode, city "
        "(schemas/customer.avsc)",
        f"{tmp_path / 'seamline.yaml'}:{line_of(text, 'lands')}: processor.mappings.0.fields.country.lookup: "
        "lookup table 'lands' is not declared under processor.lookups (countries, fx_usd)",
    ]


IDENTITY = """
processor:
  mappings:
    - source: erp.orders
      entity: sales_order
      fields: {order_number: number, customer_id: customer}
      references:
        customer_id: {source: erp.clients}
        buyer: {match: customer.mail}
    - source: erp.order_lines
      entity: customer
      line_of: {source: erp.headers, column: order_id}
      fields: {name: text}
  identity:
    customer:
      match: [email, [vat, country]]
      fuzzy: {fields: [name], block: zip}
"""


def test_references_lines_and_identity_rules_are_checked_with_their_lines(tmp_path: Path) -> None:
    problems = refusal(tmp_path, IDENTITY).splitlines()
    expected = [
        ("erp.clients", "processor.mappings.0.references.customer_id.source: no mapping reads erp.clients"),
        ("buyer:", "processor.mappings.0.references.buyer: sales_order has no field 'buyer' to resolve"),
        ("buyer:", "processor.mappings.0.references.buyer.match: 'customer.mail' is not '<entity>.<field>'"),
        ("line_of", "processor.mappings.1.line_of: customer has no order lines: line_of is for sales_order"),
        ("line_of", "processor.mappings.1.line_of.source: no mapping reads erp.headers: add one"),
        ("match: [email", "processor.identity.customer.match.1: customer has no field 'vat'"),
        ("fuzzy", "processor.identity.customer.fuzzy.block: customer has no field 'zip'"),
    ]
    assert len(problems) == len(expected), problems
    for needle, message in expected:
        located = f"seamline.yaml:{line_of(IDENTITY, needle)}: {message}"
        assert any(located in problem for problem in problems), (located, problems)


def test_pipelines_under_different_prefixes_share_no_group_transactional_id_or_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_PASSWORD", "secret")
    names = []
    for prefix in ("north.", "south."):
        config = load_config(write(tmp_path, GOOD.replace("kafka:\n", f"kafka:\n  topic_prefix: {prefix}\n")))
        assert config.processor is not None
        names.append(
            {
                config.processor.app_id,
                state_changelog_topic(config.processor.app_id),
                str(config.processor.data_dir),
                sink_group(config.kafka, "warehouse", None),
                tool_group(config.kafka, "dlq-purge"),
            }
        )
    north, south = names
    assert north == {
        "north.seamline-processor",
        "north.seamline-processor-resolve-state-changelog",
        "/var/tmp/seamline/processor/north.seamline-processor",
        "north.seamline-sink-warehouse",
        "north.seamline-dlq-purge",
    }
    assert not north & south


def test_an_app_id_given_names_the_state_directory_and_the_defaults_hold_without_a_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_PASSWORD", "secret")
    plain = load_config(write(tmp_path, GOOD))
    assert plain.processor is not None
    assert (plain.processor.app_id, sink_group(plain.kafka, "warehouse", None)) == (
        "seamline-processor",
        "seamline-sink-warehouse",
    )
    named = load_config(write(tmp_path, GOOD.replace("processor:\n", "processor:\n  app_id: billing\n")))
    assert named.processor is not None
    assert (named.processor.app_id, named.processor.data_dir) == (
        "billing",
        Path("/var/tmp/seamline/processor/billing"),
    )
