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
    "MAILCHIMP_API_KEY": "sim-key-us1",  # sandbox/mailchimp.py's default key
    "MAILCHIMP_WEBHOOK_SECRET": "mc-hook-secret-sample",
    "ZENDESK_API_TOKEN": "sim-api-token",  # sandbox/zendesk.py's default token
    "SMTP_PASSWORD": "seamline",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:8094/services/T0SAMPLE/B0SEAMLINE/sample",
    "TWILIO_AUTH_TOKEN": "sim-auth-token",
}


def business_config(monkeypatch: pytest.MonkeyPatch) -> Config:
    """examples/business.yaml with every ${SECRET} it names set."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return load_config(CONFIG)
