"""Every configuration error names the file, the line, the key and the fix (the table in docs/RELIABILITY.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.postgres_cdc.config import PostgresCdcSource
from seamline.config import ConfigError, load_config
from tests.seamline.test_config import GOOD

# (what is wrong, the file's text, what the error says after `seamline.yaml`)
CASES = [
    (
        "a key misspelt",
        GOOD.replace("  bootstrap_servers:", "  bootstrap_server:"),
        ":2: kafka.bootstrap_server: unknown key: did you mean 'bootstrap_servers'?",
    ),
    ("a section misspelt", GOOD + "sinkz: {}\n", ":21: sinkz: unknown key: did you mean 'sinks'?"),
    (
        "a required key left out",
        GOOD.replace("    slot: seamline_erp\n", ""),
        ":4: sources.erp.slot: required key missing: add `slot:` here",
    ),
    (
        "a value of the wrong type",
        GOOD.replace("tables: [customers]", "tables: 42"),
        ":8: sources.erp.tables: Input should be a valid list",
    ),
    (
        "an unknown kind",
        GOOD.replace("kind: postgres_cdc", "kind: postgres_cd"),
        ":4: sources.erp: Input tag 'postgres_cd' found using 'kind' does not match any of the expected tags: "
        "'http_poll', 'postgres_cdc', 'salesforce', 'sql_poll', 'webhook'",
    ),
    (
        "a key written twice",
        GOOD.replace("    system: erp\n", "    system: erp\n    system: crm\n"),
        ":8:5: not valid YAML: key 'system' is written twice (lines 7 and 8): keep one",
    ),
    (
        "a tab in the indentation",
        GOOD.replace("  bootstrap_servers", "\tbootstrap_servers"),
        ":2:1: not valid YAML: found character '\\t' that cannot start any token; "
        "indent with spaces, YAML refuses tabs",
    ),
    (
        "an unclosed bracket",
        "kafka: [unclosed\n",
        ":2:1: not valid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence from line 1)",
    ),
    ("not a mapping", "- kafka\n- sinks\n", ": expected a mapping with keys kafka, sources, processor, sinks"),
    (
        "an unset environment variable",
        GOOD.replace("${ERP_PASSWORD}", "${ERP_PASSWORD_TYPO}"),
        ":6: environment variable ERP_PASSWORD_TYPO is not set; export it or remove ${ERP_PASSWORD_TYPO}",
    ),
    (
        "a mapping to an unknown entity",
        GOOD.replace("entity: customer", "entity: custmer"),
        ":14: processor.mappings.0.entity: Input should be 'customer', 'product', 'sales_order' or 'inventory_level'",
    ),
    (
        "a mapping to an unknown field",
        GOOD.replace("{name: name, email: email}", "{nme: name, email: email}"),
        ":15: processor.mappings.0.fields.nme: customer has no field 'nme': use one of name, email, phone, country, "
        "tax_id, street, postcode, city (schemas/customer.avsc)",
    ),
]


@pytest.mark.parametrize(("wrong", "text", "said"), CASES, ids=[case[0] for case in CASES])
def test_the_error_names_the_file_line_key_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrong: str, text: str, said: str
) -> None:
    monkeypatch.setenv("ERP_PASSWORD", "x")
    path = tmp_path / "seamline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}{said}", wrong


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seamline.yaml: cannot read the configuration file: No such file"):
        load_config(tmp_path / "seamline.yaml")


def test_a_secret_with_yaml_syntax_stays_one_value_and_adds_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "p#ss: word\nsinks: {}\n  - ]"
    monkeypatch.setenv("ERP_PASSWORD", secret)
    path = tmp_path / "seamline.yaml"
    path.write_text(GOOD)
    config = load_config(path)
    source = config.sources["erp"]
    assert isinstance(source, PostgresCdcSource)
    assert source.dsn.get_secret_value() == f"postgresql://seamline:{secret}@127.0.0.1:55432/erp"
    assert list(config.sinks) == ["warehouse"]
