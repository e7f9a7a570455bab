"""The sample ERP's materials, sales orders (with their lines) and stock: tables, sample rows, a change stream.

The change stream moves orders through their life as the ERP would, one transaction per step (and now and
then reprices a material or adds one): an order is
entered with its lines and reserves stock, is confirmed, has lines changed while open, ships (stock leaves
the plant), is cancelled (the reservation is released) or deleted while open (its lines first). The order
total always equals the sum of its lines and `quantity_reserved` the open quantity of live orders.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from decimal import Decimal

import psycopg

SCHEMA = """
CREATE TABLE IF NOT EXISTS materials (
    id bigserial PRIMARY KEY,
    material_number text NOT NULL UNIQUE,
    description text NOT NULL,
    base_unit text NOT NULL CHECK (base_unit IN ('PC', 'KG', 'M')),
    gross_weight_kg numeric(12,3),
    list_price numeric(14,2),
    currency char(3),
    active boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sales_orders (
    id bigserial PRIMARY KEY,
    order_number text NOT NULL UNIQUE,
    customer_id bigint NOT NULL REFERENCES customers (id),
    crm_opportunity_id text,
    status text NOT NULL CHECK (status IN ('open', 'confirmed', 'shipped', 'cancelled')),
    order_date timestamptz NOT NULL,
    currency char(3) NOT NULL,
    total numeric(14,2) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sales_order_lines (
    order_id bigint NOT NULL REFERENCES sales_orders (id),
    line_no int NOT NULL,
    material_id bigint NOT NULL REFERENCES materials (id),
    quantity numeric(12,3) NOT NULL,
    unit_price numeric(14,2) NOT NULL,
    amount numeric(14,2) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, line_no)
);
CREATE TABLE IF NOT EXISTS stock (
    material_id bigint NOT NULL REFERENCES materials (id),
    plant text NOT NULL,
    quantity_on_hand numeric(12,3) NOT NULL,
    quantity_reserved numeric(12,3) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (material_id, plant)
);
ALTER TABLE materials REPLICA IDENTITY FULL;
ALTER TABLE sales_orders REPLICA IDENTITY FULL;
ALTER TABLE sales_order_lines REPLICA IDENTITY FULL;
ALTER TABLE stock REPLICA IDENTITY FULL;
"""

PLANTS = {"1000": "Hamburg", "2000": "Milano", "3000": "Shanghai"}
"""Plant code -> the city it is in."""

# (description in the language of the plant that makes it, base unit, kg per unit, list price in EUR)
_GOODS = [
    ("Kugellager 6204-2RS", "PC", "0.110", "4.90"),
    ("Hydraulikschlauch DN12", "M", "0.420", "12.30"),
    ("Edelstahlschraube M8x40 (100 Stk.)", "PC", "1.250", "18.00"),
    ("Cuscinetto a rulli conici 30205", "PC", "0.160", "9.75"),
    ("Guarnizione in gomma NBR 50x3", "PC", "0.004", "0.85"),
    ("Granulato di polipropilene", "KG", "1.000", "2.15"),
    ("不锈钢法兰 DN50", "PC", "2.300", "31.40"),
    ("铜线 2.5mm²", "M", "0.022", "1.10"),
    ("বৈদ্যুতিক মোটর ০.৭৫ কিলোওয়াট", "PC", "9.800", "145.00"),
    ("পাটের দড়ি ১২ মিমি", "M", "0.090", "0.95"),
    ("Correa trapezoidal SPA 1250", "PC", "0.190", "7.60"),
    ("Aceite hidráulico HLP 46", "KG", "1.000", "4.30"),
]
_CURRENCIES = ["EUR", "EUR", "EUR", "USD", "CNY"]
_RATE_FROM_EUR = {"EUR": Decimal("1"), "USD": Decimal("1.08"), "CNY": Decimal("7.80")}
CENT, MILLI = Decimal("0.01"), Decimal("0.001")


@dataclass(frozen=True)
class Material:
    """One materials row (without its id)."""

    material_number: str
    description: str
    base_unit: str
    gross_weight_kg: Decimal
    list_price: Decimal
    currency: str
    active: bool = True


def plant(order: int) -> str:
    """The plant that delivers an order."""
    codes = sorted(PLANTS)
    return codes[order % len(codes)]


def create_schema(conn: psycopg.Connection) -> None:
    """The materials, sales order and stock tables (the customers table must exist)."""
    conn.execute(SCHEMA)


def materials(count: int, seed: int = 7) -> list[Material]:
    """`count` distinct sample materials; the material number is the SKU (MAT-100001, ...)."""
    rng = random.Random(seed)
    made = []
    for number in range(count):
        description, unit, weight, price = _GOODS[number % len(_GOODS)]
        variant = number // len(_GOODS)
        factor = Decimal(100 + rng.randint(-10, 25)) / 100
        made.append(
            Material(
                material_number=f"MAT-{100001 + number}",
                description=description if not variant else f"{description} /{variant}",
                base_unit=unit,
                gross_weight_kg=Decimal(weight),
                list_price=(Decimal(price) * factor).quantize(CENT),
                currency="EUR",
            )
        )
    return made


def insert_materials(conn: psycopg.Connection, rows: list[Material], stock_per_plant: int = 500) -> list[int]:
    """Insert materials with a stock row in every plant, in one transaction; return their ids."""
    ids = []
    with conn.transaction():
        for row in rows:
            found = conn.execute(
                "INSERT INTO materials (material_number, description, base_unit, gross_weight_kg, list_price, "
                "currency, active) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    row.material_number,
                    row.description,
                    row.base_unit,
                    row.gross_weight_kg,
                    row.list_price,
                    row.currency,
                    row.active,
                ),
            ).fetchone()
            assert found is not None
            ids.append(found[0])
            for code in PLANTS:
                conn.execute(
                    "INSERT INTO stock (material_id, plant, quantity_on_hand, quantity_reserved) "
                    "VALUES (%s, %s, %s, 0)",
                    (found[0], code, Decimal(stock_per_plant)),
                )
    return ids


class OrderBook:
    """Enters and changes sales orders on an autocommit connection, one transaction per call.

    Stock is reserved in the order's delivering plant (chosen by its id) when it is entered and released when
    it ships or is cancelled.
    """

    def __init__(self, conn: psycopg.Connection, seed: int = 7) -> None:
        if not conn.autocommit:
            raise ValueError("OrderBook commits each change on its own: open the connection with autocommit=True")
        self.conn = conn
        self.rng = random.Random(seed)

    def enter(self, customer_id: int, lines: int | None = None, crm_opportunity_id: str | None = None) -> int:
        """A new open order of the customer with 1-4 lines of random active materials; returns its id."""
        currency = self.rng.choice(_CURRENCIES)
        picked = self.conn.execute("SELECT id, list_price FROM materials WHERE active ORDER BY id").fetchall()
        if not picked:
            raise ValueError("no active materials: insert materials before entering orders")
        chosen = self.rng.sample(picked, min(len(picked), lines or self.rng.randint(1, 4)))
        with self.conn.transaction():
            found = self.conn.execute(
                "WITH n AS (SELECT nextval(pg_get_serial_sequence('sales_orders', 'id')) AS id) "
                "INSERT INTO sales_orders (id, order_number, customer_id, crm_opportunity_id, status, order_date, "
                "currency, total) SELECT id, 'SO-' || lpad(id::text, 7, '0'), %s, %s, 'open', now(), %s, 0 FROM n "
                "RETURNING id",
                (customer_id, crm_opportunity_id, currency),
            ).fetchone()
            assert found is not None
            order = int(found[0])
            for number, (material, price) in enumerate(chosen, start=1):
                quantity = Decimal(self.rng.randint(1, 40))
                self._add_line(order, number, material, quantity, (price * _RATE_FROM_EUR[currency]).quantize(CENT))
                self._reserve(material, plant(order), quantity)
            self._retotal(order)
        return order

    def link_opportunity(self, order: int, opportunity_id: str) -> None:
        """Record the CRM Opportunity the order came from."""
        self.conn.execute(
            "UPDATE sales_orders SET crm_opportunity_id = %s, updated_at = now() WHERE id = %s", (opportunity_id, order)
        )

    def confirm(self, order: int) -> None:
        """open -> confirmed."""
        self._set_status(order, "confirmed", ("open",))

    def change_quantity(self, order: int) -> None:
        """Change the quantity of one line of an open order; its amount, the order total and the reservation follow."""
        with self.conn.transaction():
            line = self.conn.execute(
                "SELECT line_no, material_id, quantity, unit_price FROM sales_order_lines WHERE order_id = %s "
                "ORDER BY random() LIMIT 1",
                (order,),
            ).fetchone()
            if line is None:
                return
            line_no, material, old, price = line
            new = Decimal(self.rng.randint(1, 40))
            self.conn.execute(
                "UPDATE sales_order_lines SET quantity = %s, amount = %s, updated_at = now() "
                "WHERE order_id = %s AND line_no = %s",
                (new, (new * price).quantize(CENT), order, line_no),
            )
            self._reserve(material, plant(order), new - old)
            self._retotal(order)

    def ship(self, order: int) -> None:
        """confirmed -> shipped: the reserved quantities leave the plant."""
        with self.conn.transaction():
            if self._set_status(order, "shipped", ("confirmed",)):
                for material, quantity in self._lines(order):
                    self.conn.execute(
                        "UPDATE stock SET quantity_on_hand = quantity_on_hand - %s, "
                        "quantity_reserved = quantity_reserved - %s, updated_at = now() "
                        "WHERE material_id = %s AND plant = %s",
                        (quantity, quantity, material, plant(order)),
                    )

    def cancel(self, order: int) -> None:
        """open or confirmed -> cancelled: the reservation is released."""
        with self.conn.transaction():
            if self._set_status(order, "cancelled", ("open", "confirmed")):
                self._release(order)

    def delete(self, order: int) -> None:
        """Delete an open order, its lines first, releasing its reservation."""
        with self.conn.transaction():
            status = self.conn.execute("SELECT status FROM sales_orders WHERE id = %s", (order,)).fetchone()
            if status is None or status[0] != "open":
                return
            self._release(order)
            self.conn.execute("DELETE FROM sales_order_lines WHERE order_id = %s", (order,))
            self.conn.execute("DELETE FROM sales_orders WHERE id = %s", (order,))

    def restock(self, material: int, code: str, quantity: Decimal) -> None:
        """Goods receipt: more on hand in plant `code`."""
        self.conn.execute(
            "UPDATE stock SET quantity_on_hand = quantity_on_hand + %s, updated_at = now() "
            "WHERE material_id = %s AND plant = %s",
            (quantity, material, code),
        )

    def reprice(self, material: int) -> None:
        """A new list price (within ±10 %) for a material."""
        factor = Decimal(100 + self.rng.randint(-10, 10)) / 100
        self.conn.execute(
            "UPDATE materials SET list_price = round(list_price * %s, 2), updated_at = now() WHERE id = %s",
            (factor, material),
        )

    def add_material(self) -> int:
        """A new material (the next material number) with stock in every plant; returns its id."""
        count = self.conn.execute("SELECT count(*) FROM materials").fetchone()
        made = materials(int(count[0]) + 1 if count else 1, seed=self.rng.randrange(10**6))[-1]
        taken = self.conn.execute("SELECT max(material_number) FROM materials").fetchone()
        if taken and taken[0] and taken[0] >= made.material_number:
            made = replace(made, material_number=f"MAT-{int(taken[0].removeprefix('MAT-')) + 1}")
        return insert_materials(self.conn, [made])[0]

    def _add_line(self, order: int, number: int, material: int, quantity: Decimal, price: Decimal) -> None:
        self.conn.execute(
            "INSERT INTO sales_order_lines (order_id, line_no, material_id, quantity, unit_price, amount) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (order, number, material, quantity, price, (quantity * price).quantize(CENT)),
        )

    def _lines(self, order: int) -> list[tuple[int, Decimal]]:
        rows = self.conn.execute(
            "SELECT material_id, quantity FROM sales_order_lines WHERE order_id = %s ORDER BY line_no", (order,)
        ).fetchall()
        return [(material, quantity) for material, quantity in rows]

    def _reserve(self, material: int, code: str, quantity: Decimal) -> None:
        self.conn.execute(
            "UPDATE stock SET quantity_reserved = quantity_reserved + %s, updated_at = now() "
            "WHERE material_id = %s AND plant = %s",
            (quantity, material, code),
        )

    def _release(self, order: int) -> None:
        for material, quantity in self._lines(order):
            self._reserve(material, plant(order), -quantity)

    def _retotal(self, order: int) -> None:
        self.conn.execute(
            "UPDATE sales_orders SET total = (SELECT coalesce(sum(amount), 0) FROM sales_order_lines "
            "WHERE order_id = %s), updated_at = now() WHERE id = %s",
            (order, order),
        )

    def _set_status(self, order: int, status: str, allowed: tuple[str, ...]) -> bool:
        changed = self.conn.execute(
            "UPDATE sales_orders SET status = %s, updated_at = now() WHERE id = %s AND status = ANY(%s)",
            (status, order, list(allowed)),
        )
        return changed.rowcount == 1


class OrderStream:
    """Applies random order-to-cash steps (see the module docstring), each in one transaction."""

    STEPS = ("enter", "confirm", "change_quantity", "ship", "cancel", "delete", "restock", "reprice", "add_material")
    WEIGHTS = (5, 4, 3, 3, 1, 1, 1, 1, 0.3)

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self.rng = book.rng
        self.counts = dict.fromkeys(self.STEPS, 0)

    def step(self) -> str:
        """Apply one step and return its name (a step with nothing to act on enters an order instead)."""
        kind = self.rng.choices(self.STEPS, weights=self.WEIGHTS)[0]
        if kind == "add_material":
            self.book.add_material()
            self.counts[kind] += 1
            return kind
        if kind == "reprice":
            row = self.book.conn.execute("SELECT id FROM materials ORDER BY random() LIMIT 1").fetchone()
            if row is not None:
                self.book.reprice(row[0])
                self.counts[kind] += 1
                return kind
            kind = "enter"
        if kind == "restock":
            row = self.book.conn.execute("SELECT material_id, plant FROM stock ORDER BY random() LIMIT 1").fetchone()
            if row is not None:
                self.book.restock(row[0], row[1], Decimal(self.rng.randint(10, 200)))
                self.counts[kind] += 1
                return kind
            kind = "enter"
        if kind != "enter":
            wanted = {"confirm": "open", "change_quantity": "open", "delete": "open", "ship": "confirmed"}
            statuses = [wanted[kind]] if kind in wanted else ["open", "confirmed"]
            row = self.book.conn.execute(
                "SELECT id FROM sales_orders WHERE status = ANY(%s) ORDER BY random() LIMIT 1", (statuses,)
            ).fetchone()
            if row is not None:
                getattr(self.book, kind)(row[0])
                self.counts[kind] += 1
                return kind
            kind = "enter"
        customer = self.book.conn.execute(
            "SELECT id FROM customers WHERE email NOT LIKE '%%@' ORDER BY random() LIMIT 1"
        ).fetchone()
        if customer is None:
            raise ValueError("no customers: insert customers before entering orders")
        self.book.enter(customer[0])
        self.counts["enter"] += 1
        return "enter"
