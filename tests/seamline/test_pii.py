"""Field-level encryption of personal data: tokens, tampering, key rotation through the command line, key files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from seamline.config import ConfigError, load_config
from seamline.pii import FieldCipher, KeyFileError, KeyRing, SealedFieldError
from tests.command import seamline

FIELDS = {"customer": frozenset({"name", "email"})}
ADA = {"id": "g-1", "version": 3, "name": "Ada Lovelace", "email": "ada@example.com", "country": "GB", "phone": None}


def ring(path: Path, key_id: str = "k1") -> KeyRing:
    made = (KeyRing.load(path) if path.exists() else KeyRing("", {})).with_new_key(key_id)
    made.save(path)
    return made


def test_marked_fields_are_sealed_and_open_again(tmp_path: Path) -> None:
    cipher = FieldCipher(ring(tmp_path / "keys.json"), FIELDS)
    sealed = cipher.seal("customer", ADA)
    assert sealed["name"].startswith("enc:v1:k1:") and sealed["email"].startswith("enc:v1:k1:")
    assert "Ada" not in json.dumps(sealed) and "example.com" not in json.dumps(sealed)
    assert {k: v for k, v in sealed.items() if k not in FIELDS["customer"]} == {
        k: v for k, v in ADA.items() if k not in FIELDS["customer"]
    }
    assert cipher.seal("customer", ADA)["email"] != sealed["email"]  # a fresh nonce each time
    assert cipher.open("customer", sealed) == ADA
    assert cipher.open("customer", ADA) == ADA  # written before encryption was turned on
    assert cipher.seal("product", {"id": "p", "name": "Widget"}) == {"id": "p", "name": "Widget"}


def test_a_token_altered_or_moved_to_another_record_or_field_does_not_open(tmp_path: Path) -> None:
    cipher = FieldCipher(ring(tmp_path / "keys.json"), FIELDS)
    sealed = cipher.seal("customer", ADA)
    with pytest.raises(SealedFieldError, match="another record or field"):
        cipher.open("customer", {**sealed, "id": "g-2"})
    with pytest.raises(SealedFieldError, match="customer.name does not open"):
        cipher.open("customer", {**sealed, "name": sealed["email"]})
    altered = sealed["email"][:-6] + ("AAAAAA" if not sealed["email"].endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(SealedFieldError, match="altered"):
        cipher.open("customer", {**sealed, "email": altered})


def test_keys_rotate_through_the_command_line_and_old_tokens_still_open(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    made = seamline("pii", "new-key", "--key-file", str(key_file), "--id", "2026a")
    assert made.returncode == 0 and "key 2026a is now current (1 key(s))" in made.stderr, made.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    old = FieldCipher(KeyRing.load(key_file), FIELDS).seal("customer", ADA)
    rotated = seamline("pii", "new-key", "--key-file", str(key_file), "--id", "2026b")
    assert rotated.returncode == 0 and "(2 key(s))" in rotated.stderr
    cipher = FieldCipher(KeyRing.load(key_file), FIELDS)
    new = cipher.seal("customer", ADA)
    assert new["email"].startswith("enc:v1:2026b:")
    assert cipher.open("customer", old) == cipher.open("customer", new) == ADA
    again = seamline("pii", "new-key", "--key-file", str(key_file), "--id", "2026b")
    assert again.returncode == 2 and "key id '2026b' is taken" in again.stderr
    document = json.loads(key_file.read_text())
    del document["keys"]["2026a"]
    key_file.write_text(json.dumps(document))
    with pytest.raises(SealedFieldError, match="sealed with key '2026a', which the key file no longer has: add it"):
        FieldCipher(KeyRing.load(key_file), FIELDS).open("customer", old)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist: make one with `seamline pii new-key"),
        ("{not json", "is not readable JSON"),
        ('{"current": "k1"}', 'needs {"current": ID, "keys": {ID: BASE64}}'),
        ('{"current": "k1", "keys": {"k1": "c2hvcnQ="}}', "key 'k1' must be 32 bytes in base64"),
        ('{"current": "k9", "keys": {}}', "current key 'k9' is not among the keys []"),
    ],
    ids=["missing", "not-json", "no-keys", "short-key", "unknown-current"],
)
def test_an_unusable_key_file_says_what_is_wrong(tmp_path: Path, content: str | None, message: str) -> None:
    key_file = tmp_path / "keys.json"
    if content is not None:
        key_file.write_text(content)
    with pytest.raises(KeyFileError, match=message.replace("(", r"\(").replace("{", r"\{").replace("[", r"\[")):
        KeyRing.load(key_file)


def test_only_existing_text_fields_can_be_marked(tmp_path: Path) -> None:
    def problem(fields: dict[str, list[str]]) -> str:
        path = tmp_path / "seamline.yaml"
        path.write_text(yaml.safe_dump({"pii": {"key_file": "keys.json", "fields": fields}}))
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        return str(caught.value)

    assert "customer has no field 'mail': use one of" in problem({"customer": ["mail"]})
    assert "inventory_level.quantity_on_hand is not a text field" in problem({"inventory_level": ["quantity_on_hand"]})
    assert "seamline.yaml" in problem({"customer": ["mail"]})


def test_validate_names_a_missing_key_file_and_the_command_that_makes_it(tmp_path: Path) -> None:
    path = tmp_path / "seamline.yaml"
    key_file = tmp_path / "keys.json"
    path.write_text(yaml.safe_dump({"pii": {"key_file": str(key_file), "fields": {"customer": ["email"]}}}))
    refused = seamline("validate", str(path))
    assert refused.returncode == 2 and f"PII key file {key_file} does not exist" in refused.stderr, refused.stderr
    ring(key_file)
    assert seamline("validate", str(path)).returncode == 0
