"""The http sink writing canonical customers into the S/4HANA simulation's business partners, as a
configuration file holds it; shared by the tests that run it as a process."""

from __future__ import annotations

from typing import Any

from sandbox.s4hana import ROOT, S4HanaSim

PARTNERS = "API_BUSINESS_PARTNER/A_BusinessPartner"


def customer_sink(sim: S4HanaSim, password: str, **settings: Any) -> dict[str, Any]:
    """The sink's section; `password` as the file writes it (the value or a ${VAR}), `settings` added."""
    return {
        "kind": "http",
        "base_url": f"{sim.url}{ROOT}",
        "auth": {"kind": "basic", "user": sim.user, "password": password},
        "format": "odata_v2",
        "csrf_path": "/API_BUSINESS_PARTNER/",
        "entities": {
            "customer": {
                "collection": f"/{PARTNERS}",
                "item": f"/{PARTNERS}('{{key}}')",
                "key_field": "BusinessPartner",
                "version_field": "YY1_SeamlineVersion",
                "fields": {
                    "BusinessPartner": "id",
                    "YY1_SeamlineVersion": "version",
                    "BusinessPartnerFullName": "name",
                    "YY1_EmailAddress": "email",
                },
            }
        },
        **settings,
    }
