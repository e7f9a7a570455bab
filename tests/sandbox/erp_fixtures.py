"""A filled sample ERP in a test's own database, shared by the sandbox and sample-config tests."""

from __future__ import annotations

import psycopg

from sandbox import erp, erp_orders


def filled_erp(dsn: str, customers: int = 30, materials: int = 15, orders: int = 20) -> None:
    """Create the ERP tables and insert customers, materials with stock, and open orders."""
    erp.create_schema(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        data = erp.SampleData(seed=11)
        ids = erp.insert(conn, list(data.customers(customers)))
        erp_orders.insert_materials(conn, erp_orders.materials(materials))
        book = erp_orders.OrderBook(conn, seed=11)
        for number in range(orders):
            book.enter(ids[number % len(ids)])
