"""A seeded stream of raw changes for the processor fault tests, in phases, and its expected canonical state.

Within a phase the processor may apply changes of different records in any order (several raw topics and
partitions feed one identity partition), so each phase keeps the outcome independent of that order: a
customer's match keys (e-mail, VAT id, ERP id) never change; orders may arrive before their customer or
product (they are held); deletes come only in the last phase, and no order or line is written there.
Between phases the test waits for the processor to reach the expected state, so phases never interleave.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

from tests.processors.raw_events import RawChange, _text
from tests.processors.resolving import Harness

START_MS = 1_767_225_600_000


@dataclass(frozen=True)
class Phase:
    """The changes of one phase and the canonical state after it: 'entity/id' -> record."""

    changes: list[RawChange]
    expected: dict[str, dict[str, Any]]


class _Stream:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.changes: list[RawChange] = []
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.erp: list[str] = []
        self.crm: list[str] = []
        self.shop: list[str] = []
        self.materials: list[str] = []
        self.orders: list[str] = []
        self.shop_orders: list[str] = []
        self.emails = [f"buyer{n}@firm{n % 13}.example" for n in range(220)]
        self.vats = [f"DE{n:09d}" for n in range(100_000, 100_090)]

    def put(self, source: str, key: str, row: dict[str, Any] | None) -> None:
        tick = len(self.changes) + 1
        text = None if row is None else {name: _text(value) for name, value in row.items()}
        self.changes.append(RawChange(source, key, text, tick=tick, ts_ms=START_MS + tick * 1000))
        if row is None:
            self.rows.pop((source, key), None)
        else:
            self.rows[source, key] = row

    def zip_code(self) -> str:
        return f"{self.rng.randrange(10_000, 10_040)}"

    def new_erp(self, key: str) -> None:
        email = self.rng.choice(self.emails) if self.rng.random() < 0.8 else None
        vat = self.rng.choice(self.vats) if self.rng.random() < 0.5 else None
        row = {"name": f"ERP Kunde {key}", "email": email, "vat": vat, "phone": None, "zip": self.zip_code()}
        self.put("erp.customers", key, row)
        self.erp.append(key)

    def new_crm(self, key: str, erp_keys: list[str]) -> None:
        vat = self.rng.choice(self.vats) if self.rng.random() < 0.6 else None
        erp_id = self.rng.choice(erp_keys) if self.rng.random() < 0.4 else None
        row = {"Name": f"CRM Account {key}", "VAT": vat, "Phone": None, "Zip": self.zip_code(), "ErpId": erp_id}
        self.put("crm.Account", key, row)
        self.crm.append(key)

    def new_shop(self, key: str) -> None:
        row = {"name": f"Shop Buyer {key}", "email": self.rng.choice(self.emails), "zip": self.zip_code()}
        self.put("shop.customers", key, row)
        self.shop.append(key)

    def update_customer(self) -> None:
        """A new name or postcode; the match keys stay."""
        source, keys, name = self.rng.choice(
            [
                ("erp.customers", self.erp, "name"),
                ("crm.Account", self.crm, "Name"),
                ("shop.customers", self.shop, "name"),
            ]
        )
        key = self.rng.choice(keys)
        row = dict(self.rows[source, key])
        postcode = "Zip" if source == "crm.Account" else "zip"
        if self.rng.random() < 0.5:
            row[name] = f"{row[name].split(' v')[0]} v{self.rng.randrange(1000)}"
        else:
            row[postcode] = self.zip_code()
        self.put(source, key, row)

    def new_material(self, key: str) -> None:
        self.put("erp.materials", key, {"number": f"SKU-{key}", "text": f"Part {key}"})
        self.materials.append(key)

    def new_order(self, key: str, customers: list[str], materials: list[str]) -> None:
        total = f"{self.rng.randrange(1, 9)}.{self.rng.randrange(1000):03d},{self.rng.randrange(100):02d}"
        self.put("erp.orders", key, {"number": f"SO-{key}", "customer": self.rng.choice(customers), "total": total})
        self.orders.append(key)
        for line in range(1, self.rng.randrange(1, 4)):
            row = {"order": key, "line": line, "material": self.rng.choice(materials), "qty": self.rng.randrange(1, 9)}
            self.put("erp.order_lines", f"{key}-{line}", row)

    def new_shop_order(self, key: str, materials: list[str]) -> None:
        items = [
            {"n": n, "sku": f"SKU-{self.rng.choice(materials)}", "q": self.rng.randrange(1, 5)}
            for n in range(1, self.rng.randrange(1, 4))
        ]
        self.put("shop.orders", key, {"name": f"#{key}", "email": self.rng.choice(self.emails), "items": items})
        self.shop_orders.append(key)


def fault_stream(seed: int, scale: int = 1) -> tuple[dict[str, Any], list[Phase]]:
    """The processor config and three phases (creates, then updates and late records, then deletes)."""
    from tests.processors.test_resolve import CONFIG

    s = _Stream(seed)
    cut = [0]
    # Phase 1: products, customers of three systems, orders (some before their customer or product).
    later_erp = [f"E{n}" for n in range(150 * scale, 190 * scale)]
    later_materials = [f"M{n}" for n in range(40, 50)]
    for n in range(40):
        s.new_material(f"M{n}")
    for n in range(60 * scale):
        s.new_order(f"O{n}", [f"E{c}" for c in range(150 * scale)] + later_erp, [*s.materials, *later_materials])
    creates: list[tuple[str, str]] = (
        [("erp", f"E{n}") for n in range(150 * scale)]
        + [("crm", f"C{n}") for n in range(90 * scale)]
        + [("shop", f"S{n}") for n in range(120 * scale)]
    )
    s.rng.shuffle(creates)
    all_erp = [f"E{n}" for n in range(190 * scale)]
    for system, key in creates:
        if system == "erp":
            s.new_erp(key)
        elif system == "crm":
            s.new_crm(key, all_erp)
        else:
            s.new_shop(key)
    for n in range(60 * scale):
        s.new_shop_order(f"W{n}", [*s.materials, *later_materials])
    cut.append(len(s.changes))
    # Phase 2: updates, the customers and products that orders waited for, more records.
    for key in later_erp:
        s.new_erp(key)
    for key in later_materials:
        s.new_material(key)
    for n in range(300 * scale):
        s.update_customer()
        if n % 10 == 0:
            material = s.rng.choice(s.materials)
            s.put("erp.materials", material, {"number": f"SKU-{material}", "text": f"Part {material} rev {n}"})
    for n in range(60 * scale, 80 * scale):
        s.new_order(f"O{n}", s.erp, s.materials)
    cut.append(len(s.changes))
    # Phase 3: deletes only (shop and CRM unlink; ERP, the authoritative system, deletes the golden record).
    for source, keys, count in [
        ("shop.customers", s.shop, 30 * scale),
        ("crm.Account", s.crm, 20 * scale),
        ("erp.customers", s.erp, 20 * scale),
        ("erp.orders", s.orders, 10 * scale),
        ("erp.materials", s.materials, 5),
    ]:
        for key in s.rng.sample(keys, count):
            s.put(source, key, None)
    cut.append(len(s.changes))

    harness = Harness(CONFIG)
    phases = []
    for start, end in zip(cut, cut[1:], strict=False):
        for change in s.changes[start:end]:
            harness.change(change.source, change.key, change.row, ts=change.ts_ms)
        phases.append(Phase(s.changes[start:end], copy.deepcopy(harness.canonical)))
    return CONFIG, phases
