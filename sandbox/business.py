"""The sample business across its systems: the CRM's records derived from the sample ERP's rows.

The CRM (the Salesforce simulation) knows most ERP customers as Accounts carrying the ERP customer number
(an external id) and some prospects the ERP does not have; their people are Contacts with the ERP's
e-mails. Products are Product2 records whose ProductCode is the ERP material number. Some ERP orders were
won in the CRM: each has an Opportunity with the ERP order number, and the order keeps the Opportunity Id.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from sandbox.salesforce import SalesforceSim

_UNITS = {"PC": "Each", "KG": "Kilogram", "M": "Meter"}
_STAGE = {"open": "Negotiation", "confirmed": "Closed Won", "shipped": "Closed Won", "cancelled": "Closed Lost"}


@dataclass(frozen=True)
class CrmIds:
    """Ids of the records `crm_from_erp` created, by ERP key."""

    accounts: dict[int, str]
    contacts: dict[int, str]
    products: dict[str, str]
    opportunities: dict[int, str]


def crm_from_erp(
    sim: SalesforceSim, conn: psycopg.Connection[Any], seed: int = 7, share: float = 0.8, prospects: int = 3
) -> CrmIds:
    """Fill the CRM from the ERP (a `share` of customers and orders) and link the orders to their Opportunities.

    `conn` must be autocommit; the ERP update of crm_opportunity_id is one transaction per order.
    """
    rng = random.Random(seed)
    read = conn.cursor(row_factory=tuple_row)
    customers = read.execute(
        "SELECT id, full_name, email, phone, country_code, vat_id, street, postcode, city FROM customers "
        "WHERE email NOT LIKE '%%@' ORDER BY id"
    ).fetchall()
    known = [row for row in customers if rng.random() < share]
    account_ids = sim.insert_many("Account", [_account(row) for row in known])
    accounts = {row[0]: account for row, account in zip(known, account_ids, strict=True)}
    contact_ids = sim.insert_many("Contact", [_contact(row, accounts[row[0]]) for row in known])
    contacts = {row[0]: contact for row, contact in zip(known, contact_ids, strict=True)}
    sim.insert_many(
        "Account", [{"Name": f"Prospect {rng.randint(100, 999)} GmbH", "Type": "Prospect"} for _ in range(prospects)]
    )
    materials = read.execute(
        "SELECT material_number, description, base_unit, active FROM materials ORDER BY id"
    ).fetchall()
    product_ids = sim.insert_many(
        "Product2",
        [
            {
                "Name": text,
                "ProductCode": sku,
                "Description": text,
                "IsActive": active,
                "QuantityUnitOfMeasure": _UNITS[unit],
            }
            for sku, text, unit, active in materials
        ],
    )
    products = {row[0]: product for row, product in zip(materials, product_ids, strict=True)}
    orders = read.execute(
        "SELECT id, order_number, customer_id, status, order_date, currency, total FROM sales_orders "
        "WHERE crm_opportunity_id IS NULL ORDER BY id"
    ).fetchall()
    opportunities = {}
    for order, number, customer, status, ordered, currency, total in orders:
        if customer not in accounts or rng.random() >= share:
            continue
        opportunity = sim.insert(
            "Opportunity", _opportunity(number, accounts[customer], status, ordered.date(), currency, total)
        )
        conn.execute(
            "UPDATE sales_orders SET crm_opportunity_id = %s, updated_at = now() WHERE id = %s", (opportunity, order)
        )
        opportunities[order] = opportunity
    return CrmIds(accounts, contacts, products, opportunities)


def _account(row: tuple) -> dict[str, object]:
    erp_id, name, _email, phone, country, vat, street, postcode, city = row
    return {
        "Name": " ".join(name.split()),
        "Type": "Customer - Direct",
        "Phone": phone,
        "BillingStreet": street,
        "BillingPostalCode": postcode,
        "BillingCity": city,
        "BillingCountry": country,
        "VAT_Number__c": vat,
        "ERP_Customer_Number__c": str(erp_id),
    }


def _contact(row: tuple, account: str) -> dict[str, object]:
    _erp_id, name, email, phone, country, *_ = row
    first, _, last = " ".join(name.split()).rpartition(" ")
    return {
        "AccountId": account,
        "FirstName": first or None,
        "LastName": last,
        "Email": email.lower(),
        "Phone": phone,
        "MailingCountry": country,
    }


def _opportunity(
    number: str, account: str, status: str, ordered: date, currency: str, total: Decimal
) -> dict[str, object]:
    return {
        "Name": f"Order {number}",
        "AccountId": account,
        "Amount": float(total),
        "CurrencyIsoCode": currency,
        "CloseDate": (ordered + timedelta(days=14)).isoformat(),
        "StageName": _STAGE[status],
        "ERP_Order_Number__c": number,
    }


def main() -> None:
    """`python -m sandbox.business`: serve the CRM filled from the sample ERP; move an Opportunity now and then."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--erp-dsn", required=True, help="the sample ERP (its orders get their Opportunity Ids)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--change-every", type=float, default=5.0, help="seconds between CRM changes")
    args = parser.parse_args()
    sim, rng = SalesforceSim(), random.Random(7)
    with psycopg.connect(args.erp_dsn, autocommit=True) as conn:
        ids = crm_from_erp(sim, conn)
    url = sim.start(args.port)
    print(json.dumps({"login_url": url, "client_id": sim.client_id, "opportunities": len(ids.opportunities)}))
    deals = list(ids.opportunities.values())
    try:
        while deals:
            time.sleep(args.change_every)
            sim.update("Opportunity", rng.choice(deals), {"StageName": rng.choice(["Negotiation", "Closed Won"])})
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
