"""Configuration loading: good files load, bad ones are refused with the line, the key and the fix."""

from pathlib import Path

import pytest

from seamline.config import ConfigError, load_config

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
    source = config.sources["erp"]
    assert source.dsn.get_secret_value() == "postgresql://seamline:s3cret@127.0.0.1:55432/erp"
    assert "s3cret" not in repr(config)
    assert config.sinks["warehouse"].tables == {"customer": "customers"}


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
    with pytest.raises(ConfigError, match=r"seamline.yaml:2: kafka.bootstrap_server: Extra inputs are not permitted"):
        load_config(write(tmp_path, bad))


def test_unknown_kind_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PASSWORD", "x")
    bad = GOOD.replace("kind: postgres_cdc", "kind: oracle")
    with pytest.raises(ConfigError, match=r"sources.erp: Input tag 'oracle' found using 'kind' does not match"):
        load_config(write(tmp_path, bad))


def test_not_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "kafka: [unclosed"))
