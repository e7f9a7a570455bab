"""Create the sample business's databases for docker-compose.yml: the ERP (filled once) and the warehouse.

Run by the compose service `erp-seed` in the seamline image; idempotent, so a restart of the stack keeps
the ERP's rows and the warehouse as they are.
"""

from __future__ import annotations

import argparse

import psycopg

from sandbox import erp, erp_orders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-dsn", required=True, help="libpq DSN of a role that may create databases")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--materials", type=int, default=40)
    parser.add_argument("--orders", type=int, default=150)
    args = parser.parse_args()
    for database in ("erp", "warehouse"):
        erp.create_database(args.admin_dsn, database)
    erp_dsn = psycopg.conninfo.make_conninfo(args.admin_dsn, dbname="erp")
    erp.create_schema(erp_dsn)
    with psycopg.connect(erp_dsn, autocommit=True) as conn:
        found = conn.execute("SELECT count(*) FROM customers").fetchone()
        if found is not None and found[0]:
            print(f"the ERP already holds {found[0]} customers; left as it is", flush=True)
            return
        ids = erp.insert(conn, list(erp.SampleData(seed=11).customers(args.customers)))
        erp_orders.insert_materials(conn, erp_orders.materials(args.materials))
        book = erp_orders.OrderBook(conn, seed=11)
        for number in range(args.orders):
            book.enter(ids[number % len(ids)])
    print(f"the ERP holds {args.customers} customers, {args.materials} materials, {args.orders} orders", flush=True)


if __name__ == "__main__":
    main()
