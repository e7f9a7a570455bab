"""The simulation's sObject Collections (upsert by external id, delete by Ids) answer as Salesforce documents them."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.salesforce import SalesforceSim
from tests.sandbox.test_salesforce_sim import DATA, query

UPSERT = f"{DATA}/composite/sobjects/Account/Seamline_Id__c"


def accounts(*rows: dict[str, Any], all_or_none: bool = False) -> dict[str, Any]:
    return {"allOrNone": all_or_none, "records": [{"attributes": {"type": "Account"}, **row} for row in rows]}


def test_upsert_creates_then_updates_by_external_id_and_the_source_query_sees_it(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client
) -> None:
    created = salesforce_client.patch(
        UPSERT, json=accounts({"Seamline_Id__c": "c1", "Name": "Acme", "Seamline_Version__c": 1})
    )
    assert created.status_code == 200
    assert created.headers["Sforce-Limit-Info"] == "api-usage=1/1000"
    ((result),) = created.json()
    assert result["success"] is True and result["created"] is True and result["errors"] == []
    record = salesforce_sim.record("Account", result["id"])
    assert record["Name"] == "Acme" and record["Seamline_Version__c"] == 1 and record["IsDeleted"] is False
    updated = salesforce_client.patch(UPSERT, json=accounts({"Seamline_Id__c": "c1", "Name": "Acme 2"}))
    assert updated.json() == [{"id": result["id"], "success": True, "errors": [], "created": False}]
    rows = query(salesforce_client, "SELECT Id, Name FROM Account WHERE Seamline_Id__c = 'c1'").json()["records"]
    assert [(row["Id"], row["Name"]) for row in rows] == [(result["id"], "Acme 2")]
    assert [(w.method, w.id, w.fields["Name"]) for w in salesforce_sim.writes] == [
        ("PATCH", result["id"], "Acme"),
        ("PATCH", result["id"], "Acme 2"),
    ]


def test_partial_failures_are_per_record_and_all_or_none_rolls_back(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client
) -> None:
    salesforce_sim.validate(
        lambda obj, record: (
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "VAT number is invalid", ["VAT_Number__c"])
            if record["VAT_Number__c"] == "bad"
            else None
        )
    )
    batch = accounts(
        {"Seamline_Id__c": "c1", "Name": "One"},
        {"Seamline_Id__c": "c2"},
        {"Seamline_Id__c": "c3", "Name": "Three", "VAT_Number__c": "bad"},
    )
    results = salesforce_client.patch(UPSERT, json=batch).json()
    assert [r["success"] for r in results] == [True, False, False]
    assert results[1]["errors"] == [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]}
    ]
    assert results[2]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert [r["Seamline_Id__c"] for r in salesforce_sim.live("Account")] == ["c1"]
    rolled = salesforce_client.patch(UPSERT, json={**batch, "allOrNone": True}).json()
    assert [r["errors"][0]["statusCode"] for r in rolled] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUIRED_FIELD_MISSING",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    ]
    assert len(salesforce_sim.writes) == 1, "nothing saved by the rolled-back call"


def test_bad_requests_are_refused_whole(salesforce_client: httpx.Client) -> None:
    too_many = accounts(*({"Seamline_Id__c": f"c{n}", "Name": "x"} for n in range(201)))
    answer = salesforce_client.patch(UPSERT, json=too_many)
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    unknown = salesforce_client.patch(UPSERT, json=accounts({"Seamline_Id__c": "c1", "Nmae": "x"}))
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    not_external = salesforce_client.patch(f"{DATA}/composite/sobjects/Account/Name", json=accounts({"Name": "x"}))
    assert not_external.status_code == 400 and not_external.json()[0]["errorCode"] == "INVALID_FIELD"
    ids = ",".join(f"001{n:015d}" for n in range(201))
    assert salesforce_client.delete(f"{DATA}/composite/sobjects", params={"ids": ids}).status_code == 400


def test_delete_moves_records_to_the_recycle_bin_and_reports_each(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client
) -> None:
    first, second = salesforce_sim.insert_many("Account", [{"Name": "A"}, {"Name": "B"}])
    answer = salesforce_client.delete(
        f"{DATA}/composite/sobjects", params={"ids": f"{first},{second}", "allOrNone": "false"}
    )
    assert answer.json() == [{"id": key, "success": True, "errors": []} for key in (first, second)]
    again = salesforce_client.delete(f"{DATA}/composite/sobjects", params={"ids": first}).json()
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert salesforce_sim.live("Account") == []
    deleted = query(salesforce_client, "SELECT Id, IsDeleted FROM Account", kind="queryAll").json()["records"]
    assert {(row["Id"], row["IsDeleted"]) for row in deleted} == {(first, True), (second, True)}


def test_expired_tokens_and_injected_outages_apply_to_the_composite_calls(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client
) -> None:
    salesforce_sim.fail_next(1)
    outage = salesforce_client.patch(UPSERT, json=accounts({"Seamline_Id__c": "c1", "Name": "A"}))
    assert outage.status_code == 503 and "Sforce-Limit-Info" in outage.headers
    salesforce_sim.expire_tokens()
    expired = salesforce_client.patch(UPSERT, json=accounts({"Seamline_Id__c": "c1", "Name": "A"}))
    assert expired.status_code == 401 and expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert salesforce_client.delete(f"{DATA}/composite/sobjects", params={"ids": "001"}).status_code == 401
    assert salesforce_sim.writes == [] and salesforce_sim.live("Account") == []
