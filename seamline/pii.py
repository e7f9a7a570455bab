"""Field-level encryption of personal data on the canonical topics: AES-256-GCM, keys from a key file.

The processor seals the fields the configuration marks as personal before it publishes a canonical record;
the sinks open them right after decoding. Anyone else reading the topics sees tokens:

    enc:v1:<key id>:<base64url(12-byte nonce + ciphertext + tag)>

The associated data binds a token to its entity, golden id and field, so a token copied into another record
or field does not open. The key file is JSON, `{"current": "<id>", "keys": {"<id>": "<base64 32 bytes>"}}`:
new tokens use the current key, and any key still listed opens the tokens made with it, which is how keys
are rotated (`seamline pii new-key`). Plain values in a marked field (written before encryption was turned
on) pass through unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12


class KeyFileError(ValueError):
    """The key file cannot be used; the message says what is wrong and how to fix it."""


class SealedFieldError(ValueError):
    """A sealed field cannot be opened: unknown key, or a token altered or moved to another record or field."""


@dataclass(frozen=True)
class KeyRing:
    """The keys of a key file: `current` seals, every one opens."""

    current: str
    keys: Mapping[str, bytes]

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        fix = "make one with `seamline pii new-key --key-file PATH`"
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyFileError(f"PII key file {path} does not exist: {fix}") from None
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"PII key file {path} is not readable JSON ({exc}): {fix}") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), dict):
            raise KeyFileError(f'PII key file {path} needs {{"current": ID, "keys": {{ID: BASE64}}}}: {fix}')
        keys: dict[str, bytes] = {}
        for key_id, text in document["keys"].items():
            try:
                key = base64.b64decode(str(text), validate=True)
            except binascii.Error:
                key = b""
            if len(key) != KEY_BYTES or ":" in key_id:
                raise KeyFileError(
                    f"PII key file {path}: key {key_id!r} must be {KEY_BYTES} bytes in base64 under an id without ':'"
                )
            keys[key_id] = key
        current = document.get("current")
        if current not in keys:
            raise KeyFileError(f"PII key file {path}: current key {current!r} is not among the keys {sorted(keys)}")
        return cls(current, keys)

    def with_new_key(self, key_id: str) -> KeyRing:
        """This ring with a new random key that becomes the current one; the others stay to open old tokens."""
        if key_id in self.keys or ":" in key_id:
            raise KeyFileError(f"key id {key_id!r} is taken or contains ':'; choose another")
        return KeyRing(key_id, {**self.keys, key_id: secrets.token_bytes(KEY_BYTES)})

    def save(self, path: Path) -> None:
        """Write the ring readable by its owner only, replacing the file in one step."""
        document = {"current": self.current, "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()}}
        partial = path.with_name(path.name + ".new")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(document, file, indent=2)
        partial.replace(path)


class FieldCipher:
    """Seals and opens the personal fields of canonical records, per entity."""

    def __init__(self, ring: KeyRing, fields: Mapping[str, frozenset[str]]) -> None:
        self.ring = ring
        self.fields = fields
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys.items()}

    @classmethod
    def disabled(cls) -> FieldCipher:
        """A cipher that marks no field: records pass through as they are."""
        return cls(KeyRing("", {}), {})

    def seal(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """The record with each marked text field encrypted under the current key."""
        if entity not in self.fields:
            return record
        sealed = dict(record)
        cipher = self._ciphers[self.ring.current]
        for field in self.fields.get(entity, ()):
            value = sealed.get(field)
            if isinstance(value, str) and not value.startswith(PREFIX):
                nonce = secrets.token_bytes(NONCE_BYTES)
                box = cipher.encrypt(nonce, value.encode(), _context(entity, record, field))
                sealed[field] = f"{PREFIX}{self.ring.current}:{base64.urlsafe_b64encode(nonce + box).decode()}"
        return sealed

    def open(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """The record with each sealed field decrypted; SealedFieldError if one cannot be."""
        if entity not in self.fields:
            return record
        opened = dict(record)
        for field in self.fields.get(entity, ()):
            value = opened.get(field)
            if isinstance(value, str) and value.startswith(PREFIX):
                opened[field] = self._open(entity, record, field, value)
        return opened

    def _open(self, entity: str, record: Mapping[str, Any], field: str, token: str) -> str:
        key_id, _, payload = token.removeprefix(PREFIX).partition(":")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SealedFieldError(
                f"{entity}.{field} was sealed with key {key_id!r}, which the key file no longer has: add it back"
            )
        try:
            box = base64.urlsafe_b64decode(payload.encode())
            return cipher.decrypt(box[:NONCE_BYTES], box[NONCE_BYTES:], _context(entity, record, field)).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise SealedFieldError(
                f"{entity}.{field} does not open with key {key_id!r}: the token was altered or belongs to another"
                " record or field"
            ) from None


def _context(entity: str, record: Mapping[str, Any], field: str) -> bytes:
    return f"{entity}/{record.get('id')}/{field}".encode()
