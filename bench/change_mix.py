"""A realistic, reproducible mix of raw source changes for the processor benchmark, and its processor config.

Customers from three systems (erp, crm, shop) of which ~30% are the same company seen again in another system
(same e-mail or VAT), some customers updated; products; ERP sales orders with 1-5 separate line rows and shop
orders with 1-5 nested items, both referencing existing customers and products; stock levels per plant.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PROCESSOR: dict[str, Any] = {
    "mappings": [
        {
            "source": "erp.customers",
            "entity": "customer",
            "fields": {"name": "name", "email": "email", "tax_id": "vat", "phone": "phone", "postcode": "zip"},
            "default_region": "DE",
        },
        {
            "source": "crm.Account",
            "entity": "customer",
            "fields": {"name": "Name", "tax_id": "VAT", "phone": "Phone", "postcode": "Zip"},
            "same_as": {"erp.customers": "ErpId"},
            "default_region": "DE",
        },
        {
            "source": "shop.customers",
            "entity": "customer",
            "fields": {"name": "name", "email": "email", "postcode": "zip"},
        },
        {"source": "erp.materials", "entity": "product", "fields": {"sku": "number", "name": "text"}},
        {
            "source": "erp.orders",
            "entity": "sales_order",
            "fields": {"order_number": "number", "customer_id": "customer", "total_amount": "total"},
            "references": {"customer_id": {"source": "erp.customers"}},
        },
        {
            "source": "erp.order_lines",
            "entity": "sales_order",
            "line_of": {"source": "erp.orders", "column": "order"},
            "fields": {"line_number": "line", "product_id": "material", "quantity": "qty"},
            "references": {"product_id": {"source": "erp.materials"}},
        },
        {
            "source": "shop.orders",
            "entity": "sales_order",
            "fields": {
                "order_number": "name",
                "customer_id": "email",
                "lines": {"each": "items", "fields": {"line_number": "n", "product_id": "sku", "quantity": "q"}},
            },
            "references": {"customer_id": {"match": "customer.email"}, "lines.product_id": {"match": "product.sku"}},
        },
        {
            "source": "erp.stock",
            "entity": "inventory_level",
            "fields": {"product_id": "material", "location": "plant", "quantity_on_hand": "qty", "unit": "unit"},
            "references": {"product_id": {"source": "erp.materials"}},
        },
    ],
    "identity": {
        "customer": {
            "match": ["email", "tax_id"],
            "priority": ["erp", "crm", "shop"],
            "authoritative": "erp",
            "fuzzy": {"fields": ["name"], "block": "postcode", "threshold": 85},
        },
        "product": {"match": ["sku"]},
    },
}

_WORDS = (
    "Alpen Baltic Cedar Delta Elbe Fjord Granit Hafen Iris Jura Kobalt Lotus Mosel Nord Oder Pfalz Quarz Rhein "
    "Saale Taunus Ulme Vulkan Weser Xenon Yukon Zinn Adler Birke Donau Eiche Falke Linde Main Neckar Ruhr"
).split()
_TRADES = "Logistik Metallbau Textil Software Bau Handel Pharma Energie Optik Elektro Druck Holz".split()
_FORMS = ("GmbH", "AG", "KG", "GmbH & Co. KG", "e.K.", "SE")
_PLANTS = ("P100", "P200", "W01", "W02")
STOCK_SHARE, PRODUCT_SHARE, CUSTOMER_SHARE, ORDER_SHARE = 0.15, 0.10, 0.30, 0.45
DUPLICATE_SHARE = 0.30


@dataclass(frozen=True)
class RawChange:
    """One change of a source row (`source` is '<system>.<object>')."""

    source: str
    key: str
    row: dict[str, Any]


@dataclass
class _Company:
    name: str
    email: str
    vat: str
    zip: str
    keys: dict[str, str] = field(default_factory=dict)  # system -> key of its record there


@dataclass
class Mix:
    """The changes, plus what the canonical topics must show once every one was processed."""

    changes: list[RawChange]
    lines: dict[str, int]  # erp order key -> number of its line rows

    def by_source(self) -> dict[str, int]:
        """How many changes each source object contributed."""
        return dict(sorted(Counter(change.source for change in self.changes).items()))

    def xrefs(self) -> set[str]:
        """'<system>.<object>:<key>' of every record that is not an order line: each must be linked."""
        return {f"{c.source}:{c.key}" for c in self.changes if c.source != "erp.order_lines"}


def generate(count: int, seed: int = 7) -> Mix:
    """`count` changes in publication order; references point to records published before them."""
    return _Generator(random.Random(seed)).run(count)


class _Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.changes: list[RawChange] = []
        self.companies: list[_Company] = []  # each has a record in at least one system
        self.on_erp: list[_Company] = []
        self.with_email: list[_Company] = []  # has an erp or shop record, so orders can name its e-mail
        self.materials: list[tuple[str, str]] = []  # (key, sku)
        self.lines: dict[str, int] = {}
        self.serial = 0

    def run(self, count: int) -> Mix:
        order_events = 0.7 * 4 + 0.3 * 1  # erp header + 3 lines on average; a shop order is one event
        weights = (CUSTOMER_SHARE, PRODUCT_SHARE, STOCK_SHARE, ORDER_SHARE / order_events)
        while len(self.changes) < count:
            if not self.companies or len(self.materials) < 5:
                kind = "customer" if not self.companies else "product"
            else:
                kind = self.rng.choices(("customer", "product", "stock", "order"), weights)[0]
            getattr(self, f"_{kind}")(count - len(self.changes))
        return Mix(self.changes, self.lines)

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def _emit(self, source: str, key: str, row: dict[str, Any]) -> None:
        self.changes.append(RawChange(source, key, row))

    def _customer(self, _room: int) -> None:
        rng = self.rng
        if rng.random() < 0.15 and self.companies:
            updated = rng.choice(self.companies)
            self._customer_row(updated, rng.choice(sorted(updated.keys)))
            return
        company: _Company | None = (
            rng.choice(self.companies) if self.companies and rng.random() < DUPLICATE_SHARE else None
        )
        if company is None or len(company.keys) == 3:
            n = self._next()
            name = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_TRADES)} {rng.choice(_FORMS)}"
            slug = name.split()[0].lower()
            company = _Company(name, f"{slug}.{n}@example.de", f"DE{100000000 + n}", f"{rng.randint(10000, 10999)}")
            self.companies.append(company)
        system = rng.choice([s for s in ("erp", "erp", "crm", "shop") if s not in company.keys])
        if system == "erp":
            self.on_erp.append(company)
        if system != "crm" and not {"erp", "shop"} & set(company.keys):
            self.with_email.append(company)
        company.keys[system] = f"{system[0]}{self._next()}"
        self._customer_row(company, system)

    def _customer_row(self, company: _Company, system: str) -> None:
        key, phone = company.keys[system], f"030 {self.rng.randint(1000000, 9999999)}"
        if system == "erp":
            row = {"name": company.name, "email": company.email.upper(), "vat": company.vat, "phone": phone}
            self._emit("erp.customers", key, {**row, "zip": company.zip})
        elif system == "crm":
            vat = f"{company.vat[:2]} {company.vat[2:5]} {company.vat[5:]}"  # written with spaces, matched compacted
            row = {"Name": company.name.upper(), "VAT": vat, "Phone": phone, "Zip": company.zip}
            self._emit("crm.Account", key, {**row, "ErpId": company.keys.get("erp")})
        else:
            self._emit("shop.customers", key, {"name": company.name, "email": f" {company.email} ", "zip": company.zip})

    def _product(self, _room: int) -> None:
        if self.materials and self.rng.random() < 0.2:
            key, sku = self.rng.choice(self.materials)
        else:
            n = self._next()
            key, sku = f"m{n}", f"SKU-{n:07d}"
            self.materials.append((key, sku))
        self._emit("erp.materials", key, {"number": sku, "text": f"{self.rng.choice(_WORDS)} part {key}"})

    def _stock(self, _room: int) -> None:
        material, _ = self.rng.choice(self.materials)
        plant = self.rng.choice(_PLANTS)
        row = {"material": material, "plant": plant, "qty": str(self.rng.randint(0, 5000)), "unit": "PCE"}
        self._emit("erp.stock", f"{material}@{plant}", row)

    def _order(self, room: int) -> None:
        rng, n = self.rng, self._next()
        count = min(rng.randint(1, 5), max(room - 1, 1))
        total = f"{rng.randint(10, 99999)}.{rng.randint(0, 99):02d}"
        if self.on_erp and rng.random() < 0.7:
            key = f"o{n}"
            row = {"number": f"SO-{n}", "customer": rng.choice(self.on_erp).keys["erp"], "total": total}
            self._emit("erp.orders", key, row)
            self.lines[key] = count
            for line in range(1, count + 1):
                item = {"order": key, "line": str(line), "material": rng.choice(self.materials)[0]}
                self._emit("erp.order_lines", f"{key}-{line}", {**item, "qty": str(rng.randint(1, 50))})
        elif self.with_email:
            items = [
                {"n": k, "sku": rng.choice(self.materials)[1], "q": rng.randint(1, 9)} for k in range(1, count + 1)
            ]
            email = rng.choice(self.with_email).email
            self._emit("shop.orders", str(n), {"name": f"#{n}", "email": email, "items": items})
