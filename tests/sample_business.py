"""The sample business configuration (examples/business.yaml) loaded with test secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from seamline.config import Config, load_config

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "business.yaml"
SECRETS = {
    "ERP_PASSWORD": "seamline",
    "SALESFORCE_CLIENT_SECRET": "seamline-secret",
    "SHOPIFY_CLIENT_SECRET": "shpss_sample_business",
    "WAREHOUSE_PASSWORD": "seamline",
}


def business_config(monkeypatch: pytest.MonkeyPatch) -> Config:
    """examples/business.yaml with every ${SECRET} it names set."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return load_config(CONFIG)
