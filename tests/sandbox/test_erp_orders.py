"""The sample ERP's order tables on a fresh database: created, filled, and kept consistent by the change stream."""

from __future__ import annotations

from decimal import Decimal

import psycopg

from sandbox import erp, erp_orders
from tests.sandbox.erp_fixtures import filled_erp

TABLES = ("customers", "materials", "sales_orders", "sales_order_lines", "stock")


def test_tables_are_created_with_full_row_images_and_filled(database: str) -> None:
    filled_erp(database)
    erp.create_schema(database)  # idempotent
    with psycopg.connect(database) as conn:
        identity: dict[str, str] = dict(
            conn.execute(
                "SELECT relname, relreplident FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'", (list(TABLES),)
            ).fetchall()
        )
        assert identity == dict.fromkeys(TABLES, "f")
        counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}  # type: ignore[index]
        assert counts["customers"] == 30 and counts["materials"] == 15 and counts["sales_orders"] == 20
        assert counts["stock"] == 15 * len(erp_orders.PLANTS)
        assert counts["sales_order_lines"] >= 20
        customer = conn.execute(
            "SELECT vat_id, street, postcode, city FROM customers WHERE street IS NOT NULL LIMIT 1"
        ).fetchone()
        assert customer is not None and all(customer[1:])
        scripts = "".join(row[0] for row in conn.execute("SELECT full_name || city FROM customers"))
        assert any("\u0980" <= char <= "\u09ff" for char in scripts), "Bengali names and cities"
        assert any("\u4e00" <= char <= "\u9fff" for char in scripts), "Chinese names and cities"
        skus = [row[0] for row in conn.execute("SELECT material_number FROM materials ORDER BY id")]
        assert skus[0] == "MAT-100001" and len(set(skus)) == 15


def test_seeded_sample_data_is_repeatable() -> None:
    assert erp_orders.materials(5, seed=3) == erp_orders.materials(5, seed=3)
    first, again = erp.SampleData(seed=5), erp.SampleData(seed=5)
    assert list(first.customers(20)) == list(again.customers(20))


def test_change_stream_keeps_lines_totals_and_reservations_consistent(database: str) -> None:
    filled_erp(database, orders=10)
    with psycopg.connect(database, autocommit=True) as conn:
        orders = erp_orders.OrderStream(erp_orders.OrderBook(conn, seed=5))
        customers = erp.ChangeStream(conn, erp.SampleData(seed=5))
        for number in range(400):
            orders.step()
            if number % 4 == 0:
                customers.step()  # customer deletes skip customers with orders
        assert all(orders.counts[kind] > 0 for kind in erp_orders.OrderStream.STEPS), orders.counts
        assert customers.counts["delete"] > 0
        wrong_totals = conn.execute(
            "SELECT count(*) FROM sales_orders o WHERE total <> "
            "(SELECT coalesce(sum(amount), 0) FROM sales_order_lines l WHERE l.order_id = o.id)"
        ).fetchone()
        empty = conn.execute(
            "SELECT count(*) FROM sales_orders o "
            "WHERE NOT EXISTS (SELECT 1 FROM sales_order_lines l WHERE l.order_id = o.id)"
        ).fetchone()
        wrong_amounts = conn.execute(
            "SELECT count(*) FROM sales_order_lines WHERE amount <> round(quantity * unit_price, 2)"
        ).fetchone()
        assert wrong_totals == (0,) and empty == (0,) and wrong_amounts == (0,)
        reserved = dict(
            ((row[0], row[1]), row[2])
            for row in conn.execute(
                "SELECT material_id, plant, quantity_reserved FROM stock WHERE quantity_reserved <> 0"
            )
        )
        expected: dict[tuple[int, str], Decimal] = {}
        for order, material, quantity in conn.execute(
            "SELECT o.id, l.material_id, l.quantity FROM sales_orders o JOIN sales_order_lines l ON l.order_id = o.id "
            "WHERE o.status IN ('open', 'confirmed')"
        ):
            place = (material, erp_orders.plant(order))
            expected[place] = expected.get(place, Decimal(0)) + quantity
        assert reserved == expected
