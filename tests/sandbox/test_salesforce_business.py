"""The CRM side of the sample business: Account's new fields, Opportunity and Product2, filled from the ERP."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from sandbox.business import crm_from_erp
from sandbox.salesforce import SalesforceSim
from tests.sandbox.erp_fixtures import filled_erp

DATA = "/services/data/v60.0"


def fields(salesforce_client: httpx.Client, obj: str) -> dict[str, dict]:
    response = salesforce_client.get(f"{DATA}/sobjects/{obj}/describe")
    assert response.status_code == 200
    return {field["name"]: field for field in response.json()["fields"]}


def test_describe_of_the_new_fields_and_objects(salesforce_client: httpx.Client) -> None:
    account = fields(salesforce_client, "Account")
    assert account["ERP_Customer_Number__c"]["externalId"] is True and account["ERP_Customer_Number__c"]["custom"]
    assert account["VAT_Number__c"]["custom"] and not account["VAT_Number__c"]["externalId"]
    assert account["BillingStreet"]["type"] == "textarea" and account["BillingPostalCode"]["length"] == 20
    assert account["BillingCity"]["type"] == "string"

    body = salesforce_client.get(f"{DATA}/sobjects/Opportunity/describe").json()
    assert body["keyPrefix"] == "006"
    opportunity = {field["name"]: field for field in body["fields"]}
    assert opportunity["AccountId"]["referenceTo"] == ["Account"] and opportunity["AccountId"]["type"] == "reference"
    assert (opportunity["Amount"]["type"], opportunity["Amount"]["soapType"]) == ("currency", "xsd:double")
    assert opportunity["CloseDate"]["type"] == "date" and not opportunity["CloseDate"]["nillable"]
    stages = [value["value"] for value in opportunity["StageName"]["picklistValues"]]
    assert stages == ["Prospecting", "Negotiation", "Closed Won", "Closed Lost"]
    assert opportunity["CurrencyIsoCode"]["type"] == "picklist" and opportunity["ERP_Order_Number__c"]["custom"]

    body = salesforce_client.get(f"{DATA}/sobjects/Product2/describe").json()
    assert body["keyPrefix"] == "01t"
    product = {field["name"]: field for field in body["fields"]}
    assert product["IsActive"]["type"] == "boolean" and product["Description"]["type"] == "textarea"
    assert product["QuantityUnitOfMeasure"]["type"] == "picklist" and "OwnerId" not in product


def test_crm_filled_from_the_erp_links_accounts_products_and_orders(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client, database: str
) -> None:
    filled_erp(database)
    with psycopg.connect(database, autocommit=True) as conn:
        ids = crm_from_erp(salesforce_sim, conn, seed=3)
        linked: dict[str, str] = dict(
            conn.execute(
                "SELECT order_number, crm_opportunity_id FROM sales_orders WHERE crm_opportunity_id IS NOT NULL"
            )
        )
        customers = {str(row[0]): row[1] for row in conn.execute("SELECT id, vat_id FROM customers")}
    assert ids.accounts and ids.opportunities and len(ids.products) == 15

    records = salesforce_client.get(
        f"{DATA}/query", params={"q": "SELECT Id, ERP_Order_Number__c, AccountId, StageName, Amount FROM Opportunity"}
    ).json()["records"]
    assert {row["ERP_Order_Number__c"]: row["Id"] for row in records} == linked
    assert all(row["Id"].startswith("006") and row["StageName"] == "Negotiation" for row in records)

    accounts = salesforce_client.get(
        f"{DATA}/query",
        params={
            "q": "SELECT Id, ERP_Customer_Number__c, VAT_Number__c FROM Account WHERE ERP_Customer_Number__c != null"
        },
    ).json()["records"]
    assert accounts and all(customers[row["ERP_Customer_Number__c"]] == row["VAT_Number__c"] for row in accounts)

    products = salesforce_client.get(
        f"{DATA}/query",
        params={"q": "SELECT ProductCode, IsActive, QuantityUnitOfMeasure FROM Product2 ORDER BY ProductCode"},
    ).json()["records"]
    assert products[0]["ProductCode"] == "MAT-100001" and all(row["IsActive"] for row in products)


def test_helpers_update_and_delete_the_new_objects(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client
) -> None:
    product = salesforce_sim.insert("Product2", {"Name": "Kugellager", "ProductCode": "MAT-1"})
    assert salesforce_sim.record("Product2", product)["IsActive"] is False  # defaulted on create
    account = salesforce_sim.insert("Account", {"Name": "Rossi S.p.A.", "ERP_Customer_Number__c": "42"})
    deal = salesforce_sim.insert(
        "Opportunity",
        {
            "Name": "Deal",
            "AccountId": account,
            "CloseDate": "2026-12-01",
            "StageName": "Prospecting",
            "CurrencyIsoCode": "EUR",
        },
    )
    assert (
        salesforce_sim.record("Opportunity", salesforce_sim.insert("Opportunity", {"Name": "Other"}))["CurrencyIsoCode"]
        == "EUR"
    )
    salesforce_sim.update("Opportunity", deal, {"StageName": "Closed Won", "Amount": 1200.5})
    salesforce_sim.delete("Product2", product)
    live = salesforce_client.get(f"{DATA}/query", params={"q": "SELECT Id FROM Product2"}).json()
    everything = salesforce_client.get(f"{DATA}/queryAll", params={"q": "SELECT Id, IsDeleted FROM Product2"}).json()
    won = salesforce_client.get(
        f"{DATA}/query", params={"q": f"SELECT StageName, Amount FROM Opportunity WHERE Id = '{deal}'"}
    ).json()["records"][0]
    assert live["totalSize"] == 0 and everything["records"][0]["IsDeleted"] is True
    assert (won["StageName"], won["Amount"]) == ("Closed Won", 1200.5)
    with pytest.raises(KeyError, match="no field"):
        salesforce_sim.insert("Opportunity", {"Probability": 10})
