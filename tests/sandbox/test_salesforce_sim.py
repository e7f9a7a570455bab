"""The Salesforce simulation answers as Salesforce's REST API documentation says: shapes, paging, errors, limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sandbox.salesforce import SalesforceSim
from sandbox.salesforce_objects import record_id
from sandbox.soql import SoqlError, parse

DATA = "/services/data/v60.0"


def query(salesforce_client: httpx.Client, soql: str, kind: str = "query", batch: int | None = None) -> httpx.Response:
    headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
    return salesforce_client.get(f"{DATA}/{kind}", params={"q": soql}, headers=headers)


def test_token_endpoint_follows_the_client_credentials_flow(salesforce_sim: SalesforceSim) -> None:
    url = f"{salesforce_sim.url}/services/oauth2/token"
    good = {
        "grant_type": "client_credentials",
        "client_id": salesforce_sim.client_id,
        "client_secret": salesforce_sim.client_secret,
    }
    body = httpx.post(url, data=good).json()
    assert set(body) >= {"access_token", "instance_url", "token_type", "issued_at", "signature", "id"}
    assert body["token_type"] == "Bearer" and body["instance_url"] == salesforce_sim.url and body["issued_at"].isdigit()
    refused = httpx.post(url, data={**good, "client_secret": "wrong"})
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    assert httpx.post(url, data={**good, "grant_type": "password"}).json()["error"] == "unsupported_grant_type"


def test_query_returns_records_with_attributes_and_typed_json_values(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client
) -> None:
    account = salesforce_sim.insert("Account", {"Name": "Acme", "AnnualRevenue": 1500.5, "NumberOfEmployees": 12})
    response = query(
        salesforce_client, "SELECT Id, Name, AnnualRevenue, NumberOfEmployees, SystemModstamp, IsDeleted FROM Account"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["totalSize"] == 1 and body["done"] is True and "nextRecordsUrl" not in body
    (record,) = body["records"]
    assert record["attributes"] == {"type": "Account", "url": f"{DATA}/sobjects/Account/{account}"}
    assert (record["Id"], record["Name"], record["AnnualRevenue"], record["NumberOfEmployees"]) == (
        account,
        "Acme",
        1500.5,
        12,
    )
    assert record["IsDeleted"] is False
    assert len(account) == 18 and account.startswith("001")
    assert record["SystemModstamp"].endswith("+0000") and len(record["SystemModstamp"]) == 28


def test_where_order_by_limit_and_tie_breaking_on_id(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client
) -> None:
    first = salesforce_sim.insert_many("Account", [{"Name": f"n{i}"} for i in range(5)])  # one DML call: one stamp
    stamp = salesforce_sim.record("Account", first[0])["SystemModstamp"]
    assert {salesforce_sim.record("Account", r)["SystemModstamp"] for r in first} == {stamp}
    literal = stamp.replace("+0000", "Z")
    soql = (
        f"SELECT Id FROM Account WHERE (SystemModstamp > {literal} OR (SystemModstamp = {literal} "
        f"AND Id > '{first[1]}')) ORDER BY SystemModstamp, Id LIMIT 2"
    )
    assert [r["Id"] for r in query(salesforce_client, soql).json()["records"]] == first[2:4]
    desc = query(salesforce_client, "select id from account order by Id desc").json()["records"]
    assert [r["Id"] for r in desc] == first[::-1]


def test_paging_through_next_records_url_with_the_batch_size_header(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client
) -> None:
    ids = salesforce_sim.insert_many("Contact", [{"LastName": f"c{i}"} for i in range(450)])
    first = query(salesforce_client, "SELECT Id FROM Contact ORDER BY Id", batch=200).json()
    assert (first["totalSize"], first["done"], len(first["records"])) == (450, False, 200)
    assert first["nextRecordsUrl"].startswith(f"{DATA}/query/01g") and first["nextRecordsUrl"].endswith("-200")
    second = salesforce_client.get(first["nextRecordsUrl"]).json()
    third = salesforce_client.get(second["nextRecordsUrl"]).json()
    assert (len(second["records"]), second["done"], len(third["records"]), third["done"]) == (200, False, 50, True)
    assert "nextRecordsUrl" not in third
    assert [r["Id"] for page in (first, second, third) for r in page["records"]] == ids
    # batchSize is kept within 200..2000; the default is 2000
    assert len(query(salesforce_client, "SELECT Id FROM Contact", batch=5).json()["records"]) == 200
    assert query(salesforce_client, "SELECT Id FROM Contact").json()["done"] is True
    gone = salesforce_client.get(f"{DATA}/query/01gNOSUCHLOCATOR-200")
    assert gone.status_code == 400 and gone.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_includes_deleted_records(salesforce_sim: SalesforceSim, salesforce_client: httpx.Client) -> None:
    kept, deleted = salesforce_sim.insert_many("Account", [{"Name": "kept"}, {"Name": "deleted"}])
    before = salesforce_sim.record("Account", deleted)["SystemModstamp"]
    salesforce_sim.delete("Account", deleted)
    assert salesforce_sim.record("Account", deleted)["SystemModstamp"] >= before
    soql = "SELECT Id, IsDeleted FROM Account"
    assert [r["Id"] for r in query(salesforce_client, soql).json()["records"]] == [kept]
    every = {r["Id"]: r["IsDeleted"] for r in query(salesforce_client, soql, "queryAll").json()["records"]}
    assert every == {kept: False, deleted: True}
    only = query(salesforce_client, soql + " WHERE IsDeleted = true", "queryAll").json()["records"]
    assert [r["Id"] for r in only] == [deleted]


def test_describe_lists_fields_with_salesforce_types(salesforce_client: httpx.Client) -> None:
    body = salesforce_client.get(f"{DATA}/sobjects/Account/describe").json()
    types = {f["name"]: f["type"] for f in body["fields"]}
    assert body["name"] == "Account" and body["queryable"] is True
    assert types["Id"] == "id" and types["SystemModstamp"] == "datetime" and types["IsDeleted"] == "boolean"
    assert {types["AnnualRevenue"], types["NumberOfEmployees"], types["LastActivityDate"]} == {
        "currency",
        "int",
        "date",
    }
    assert {types["Rating__c"], types["Discount__c"], types["Phone"], types["Website"]} == {
        "double",
        "percent",
        "phone",
        "url",
    }
    assert {types["Industry"], types["OwnerId"], types["Description"]} == {"picklist", "reference", "textarea"}
    contact = {f["name"]: f for f in salesforce_client.get(f"{DATA}/sobjects/Contact/describe").json()["fields"]}
    assert contact["Email"]["type"] == "email" and contact["Email"]["nillable"] is True
    assert contact["LastName"]["nillable"] is False and contact["AccountId"]["referenceTo"] == ["Account"]


def errors(response: httpx.Response) -> tuple[int, str]:
    body: list[dict[str, Any]] = response.json()
    assert set(body[0]) == {"message", "errorCode"}
    return response.status_code, body[0]["errorCode"]


def test_errors_have_salesforce_codes(salesforce_client: httpx.Client) -> None:
    assert errors(salesforce_client.get(f"{DATA}/sobjects/Acount/describe")) == (404, "NOT_FOUND")
    assert errors(query(salesforce_client, "SELECT Id FROM Acount")) == (400, "INVALID_TYPE")
    assert errors(query(salesforce_client, "SELECT Id, Nme FROM Account")) == (400, "INVALID_FIELD")
    assert errors(query(salesforce_client, "SELECT Id FROMM Account")) == (400, "MALFORMED_QUERY")
    assert errors(query(salesforce_client, "SELECT Id FROM Account WHERE Name = ")) == (400, "MALFORMED_QUERY")


def test_expired_tokens_get_invalid_session_id(salesforce_sim: SalesforceSim, salesforce_client: httpx.Client) -> None:
    assert salesforce_client.get(f"{DATA}/sobjects/Account/describe").status_code == 200
    salesforce_sim.expire_tokens()
    response = salesforce_client.get(f"{DATA}/sobjects/Account/describe")
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_every_api_response_carries_the_usage_and_the_limit_is_enforced(
    salesforce_sim: SalesforceSim, salesforce_client: httpx.Client
) -> None:
    first = salesforce_client.get(f"{DATA}/sobjects/Account/describe")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/1000"
    assert query(salesforce_client, "SELECT Id FROM Nothing").headers["Sforce-Limit-Info"] == "api-usage=2/1000"
    salesforce_sim.api_usage = 999
    assert (
        salesforce_client.get(f"{DATA}/sobjects/Account/describe").headers["Sforce-Limit-Info"] == "api-usage=1000/1000"
    )
    over = salesforce_client.get(f"{DATA}/sobjects/Account/describe")
    assert errors(over) == (403, "REQUEST_LIMIT_EXCEEDED")
    assert over.headers["Sforce-Limit-Info"] == "api-usage=1000/1000"


def test_injected_faults_answer_5xx(salesforce_sim: SalesforceSim, salesforce_client: httpx.Client) -> None:
    salesforce_sim.fail_next(2, status=503)
    assert [salesforce_client.get(f"{DATA}/sobjects/Account/describe").status_code for _ in range(3)] == [503, 503, 200]


def test_soql_parser_subset() -> None:
    parsed = parse(
        "SELECT Id, Name FROM Account WHERE Name = 'O\\'Brien' AND Rating__c >= 1.5 ORDER BY Id DESC LIMIT 3"
    )
    assert parsed.fields == ("Id", "Name") and parsed.object == "Account" and parsed.limit == 3
    assert parsed.order == (("Id", True),) and parsed.where_fields == ("Name", "Rating__c")
    assert parsed.where({"name": "O'Brien", "rating__c": 2.0}) and not parsed.where({"name": "O'Brien", "rating__c": 1})
    assert parse("SELECT Id FROM Account WHERE Email = null").where({"email": None})
    for bad in ("SELECT FROM Account", "SELECT Id FROM Account LIMIT x", "SELECT Id FROM Account WHERE (Id = 'a'"):
        with pytest.raises(SoqlError, match="unexpected token"):
            parse(bad)


def test_record_ids_carry_the_case_checksum() -> None:
    assert record_id("Account", 1) == "0015g0000000001AAA"
    assert record_id("Account", 62) == "0015g0000000010AAA"
    assert record_id("Contact", 10)[-3:] == "AAQ"  # 'A' (uppercase) in the last chunk sets bit 4
