"""Identity resolution and merge as plain functions: links, match rules, merges, survivorship, deletes, holds."""

import itertools
from typing import Any

from processors.identity import born_id
from processors.resolve import MemoryTable
from tests.processors.resolving import Harness

CONFIG: dict[str, Any] = {
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


def erp(name: str, email: str | None = None, vat: str | None = None, **more: Any) -> dict[str, Any]:
    return {"name": name, "email": email, "vat": vat, "phone": None, "zip": None, **more}


def account(name: str, vat: str | None = None, erp_id: str | None = None, **more: Any) -> dict[str, Any]:
    return {"Name": name, "VAT": vat, "Phone": None, "Zip": None, "ErpId": erp_id, **more}


def shop(name: str, email: str | None = None, zip_code: str | None = None) -> dict[str, Any]:
    return {"name": name, "email": email, "zip": zip_code}


def test_the_same_customer_from_three_systems_is_one_golden_record() -> None:
    h = Harness(CONFIG)
    h.change("erp.customers", "7", erp("Rossi S.r.l.", "info@rossi.it", "IT 0123 4567 890"))
    h.change("crm.Account", "001A", account("Rossi Srl", vat="it01234567890"))  # same VAT, other spelling
    h.change("shop.customers", "9001", shop("Mario Rossi", " INFO@Rossi.IT "))  # same e-mail
    [golden] = h.live("customer")
    assert golden["id"] == born_id("erp.customers:7")
    assert golden["xrefs"] == {"erp": "7", "crm": "001A", "shop": "9001"}
    assert golden["name"] == "Rossi S.r.l."  # erp outranks crm and shop
    assert golden["version"] == 3  # each system linking adds an xref: a new version
    assert golden["origin"] == "shop"


def test_an_external_id_links_before_and_after_the_record_it_names() -> None:
    h = Harness(CONFIG)
    h.change("crm.Account", "001B", account("Müller GmbH", erp_id="42"))  # names an ERP record not yet seen
    h.change("erp.customers", "42", erp("Müller GmbH"))
    h.change("erp.customers", "43", erp("Schmidt AG"))
    h.change("crm.Account", "001C", account("Schmidt AG", erp_id="43"))
    assert sorted(r["xrefs"]["erp"] for r in h.live("customer")) == ["42", "43"]
    assert all(set(r["xrefs"]) == {"erp", "crm"} for r in h.live("customer"))


def test_golden_ids_do_not_depend_on_arrival_order() -> None:
    changes = [
        ("crm.Account", "001X", account("Bianchi SpA", vat="IT999")),
        ("erp.customers", "5", erp("Bianchi S.p.A.", "ciao@bianchi.it")),
        ("shop.customers", "77", shop("Bianchi", "ciao@bianchi.it")),
        ("erp.customers", "6", erp("Bianchi Due", "ciao@bianchi.it", "IT999")),  # links the crm record and 5
    ]
    finals = set()
    for order in itertools.permutations(range(len(changes))):
        h = Harness(CONFIG)
        for index in order:
            source, key, row = changes[index]
            h.change(source, key, row, ts=1_700_000_000_000 + index)  # the source times stay the same
        finals.add(tuple(sorted((r["id"], r["name"], tuple(sorted(r["xrefs"].items()))) for r in h.live("customer"))))
    assert len(finals) == 1
    [(gid, name, _)] = next(iter(finals))
    assert gid == born_id("crm.Account:001X")  # the earliest first change founds the record
    assert name == "Bianchi Due"  # erp first; of two erp records, the most recent change


def test_a_record_linking_two_golden_records_merges_them() -> None:
    h = Harness(CONFIG)
    h.change("erp.customers", "1", erp("Alpha", "a@alpha.example"))
    h.change("crm.Account", "001Z", account("Alpha Corp", vat="DE111111111"))
    assert len(h.live("customer")) == 2
    outputs = h.change("shop.customers", "3", shop("Alpha", "a@alpha.example"))
    assert len(outputs) == 1  # joins the erp record only
    outputs = h.change("erp.customers", "1", erp("Alpha", "a@alpha.example", "DE 111 111 111"))
    absorbed_id = born_id("crm.Account:001Z")
    final, tombstone, survivor = outputs
    assert (final.key, final.value and final.value["merged_into"], final.value and final.value["deleted"]) == (
        absorbed_id,
        born_id("erp.customers:1"),
        True,
    )
    assert tombstone.key == absorbed_id and tombstone.value is None
    assert survivor.value is not None and survivor.value["xrefs"] == {"erp": "1", "crm": "001Z", "shop": "3"}
    assert [r["id"] for r in h.live("customer")] == [born_id("erp.customers:1")]
    assert h.golden_of("crm.Account:001Z") == born_id("erp.customers:1")


def test_survivorship_priority_recency_and_nulls() -> None:
    h = Harness(CONFIG)
    h.change("shop.customers", "s1", shop("Shop Name", "x@y.example", "20095"))
    h.change("erp.customers", "e1", erp("ERP Name", "x@y.example", zip=None))
    [golden] = h.live("customer")
    assert golden["name"] == "ERP Name"  # priority
    assert golden["postcode"] == "20095"  # a null never wins over a value
    h.change("shop.customers", "s1", shop("Shop Name", "x@y.example", "20097"))
    assert h.live("customer")[0]["postcode"] == "20097"
    h.change("erp.customers", "e1", erp("ERP Name", "x@y.example", zip="20099"))
    assert h.live("customer")[0]["postcode"] == "20099"
    h.change("erp.customers", "e1", erp("ERP Name", "x@y.example", zip=None))  # the authoritative system clears it
    assert h.live("customer")[0]["postcode"] is None


def test_a_new_version_only_when_something_changed() -> None:
    h = Harness(CONFIG)
    assert len(h.change("erp.customers", "1", erp("Same", "s@same.example"))) == 1
    assert h.change("erp.customers", "1", erp("Same", " S@SAME.example")) == []  # same after cleansing
    outputs = h.change("erp.customers", "1", erp("Changed", "s@same.example"))
    assert [o.value and (o.value["version"], o.value["origin"]) for o in outputs] == [(2, "erp")]


def test_redelivered_changes_are_ignored() -> None:
    h = Harness(CONFIG)
    h.change("erp.customers", "1", erp("One"))
    h.ticks -= 1  # the same position again
    assert h.change("erp.customers", "1", erp("Other")) == []


def test_deletes_by_the_authoritative_system_delete_others_unlink() -> None:
    h = Harness(CONFIG)
    h.change("erp.customers", "1", erp("Gamma", "g@gamma.example"))
    h.change("shop.customers", "2", shop("Gamma Shop", "g@gamma.example"))
    outputs = h.change("shop.customers", "2", None)
    assert [o.value and o.value["xrefs"] for o in outputs] == [{"erp": "1"}]
    h.change("shop.customers", "3", shop("Gamma Again", "g@gamma.example"))
    final, tombstone = h.change("erp.customers", "1", None)
    assert final.value is not None and final.value["deleted"] and tombstone.value is None
    assert h.live("customer") == []
    assert h.golden_of("shop.customers:3") is None
    assert h.change("shop.orders", "9", {"name": "#9", "email": "g@gamma.example", "items": []}) == []  # held
    h.change("shop.customers", "3", shop("Gamma Again", "g@gamma.example"))  # its update founds a new record
    [reborn] = h.live("customer")
    assert reborn["id"] == born_id("shop.customers:3")
    assert h.live("sales_order")[0]["customer_id"] == reborn["id"]  # the held order found it


def test_a_recreated_record_continues_its_versions() -> None:
    h = Harness(CONFIG)
    h.change("erp.customers", "1", erp("Delta"))
    h.change("erp.customers", "1", None)
    [created] = h.change("erp.customers", "1", erp("Delta"), op="c")
    assert created.value is not None and created.value["version"] == 3


def test_orders_wait_for_their_customer_and_products() -> None:
    h = Harness(CONFIG)
    assert h.change("erp.orders", "o1", {"number": "SO-1", "customer": "7", "total": "1.234,50"}) == []
    assert h.change("erp.order_lines", "o1-1", {"order": "o1", "line": 1, "material": "m1", "qty": "2"}) == []
    assert h.resolver.held_count() == 2
    h.change("erp.customers", "7", erp("Epsilon"))
    [order] = h.live("sales_order")
    assert order["customer_id"] == born_id("erp.customers:7") and order["lines"] == []
    assert order["total_amount"] == "1234.5000"
    h.change("erp.materials", "m1", {"number": "SKU-1", "text": "Bolt"})
    [order] = h.live("sales_order")
    assert order["lines"] == [
        {"line_number": 1, "product_id": born_id("erp.materials:m1"), "quantity": "2.000"},
    ]
    assert h.resolver.held_count() == 0
    h.change("erp.order_lines", "o1-1", None)
    assert h.live("sales_order")[0]["lines"] == []


def test_a_line_change_arriving_after_its_orders_delete_changes_nothing() -> None:
    h = Harness(CONFIG)
    h.change("erp.customers", "7", erp("Epsilon"))
    h.change("erp.materials", "m1", {"number": "SKU-1", "text": "Bolt"})
    h.change("erp.orders", "o1", {"number": "SO-1", "customer": "7", "total": "4"})
    h.change("erp.order_lines", "o1-1", {"order": "o1", "line": 1, "material": "m1", "qty": "2"})
    h.change("erp.orders", "o1", None)
    assert h.live("sales_order") == []
    late = h.change("erp.order_lines", "o1-1", {"order": "o1", "line": 1, "material": "m1", "qty": "3"})
    assert late == [] and h.live("sales_order") == [] and h.resolver.held_count() == 0
    assert h.change("erp.order_lines", "o1-1", None) == []


def test_shop_orders_find_customers_and_products_by_match_fields() -> None:
    h = Harness(CONFIG)
    order = {"name": "#1001", "email": "Zeta@Example.com", "items": [{"n": 1, "sku": "SKU-9", "q": 3}]}
    assert h.change("shop.orders", "1001", order) == []
    h.change("erp.materials", "m9", {"number": "sku-9", "text": "Nut"})
    assert h.live("sales_order") == []
    h.change("erp.customers", "8", erp("Zeta", "zeta@example.com"))
    [placed] = h.live("sales_order")
    assert placed["customer_id"] == born_id("erp.customers:8")
    assert placed["lines"][0]["product_id"] == born_id("erp.materials:m9")


def test_a_merge_republishes_the_records_that_reference_the_absorbed_id() -> None:
    h = Harness(CONFIG)
    h.change("crm.Account", "001Q", account("Eta", vat="FR12345678901"))
    h.change("erp.customers", "9", erp("Eta SA", "eta@example.fr"))
    h.change("shop.orders", "2001", {"name": "#2001", "email": "eta@example.fr", "items": []})
    assert h.live("sales_order")[0]["customer_id"] == born_id("erp.customers:9")
    h.change("erp.customers", "9", erp("Eta SA", "eta@example.fr", "FR 12345678901"))  # links the crm record
    survivor = born_id("crm.Account:001Q")  # its first change came first
    assert [r["id"] for r in h.live("customer")] == [survivor]
    assert h.live("sales_order")[0]["customer_id"] == survivor


class RecordingTable(MemoryTable):
    """A table that notes the size of each value written."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.sizes.append(len(repr(value)))
        super().__setitem__(key, value)


def test_a_customer_with_many_orders_is_not_rewritten_for_each_new_one() -> None:
    h = Harness(CONFIG)
    h.tables.index = index = RecordingTable()
    h.change("erp.customers", "9", erp("Eta SA", "eta@example.fr"))
    written = []
    for number in range(300):
        before = len(index.sizes)
        h.change("shop.orders", str(number), {"name": f"#{number}", "email": "eta@example.fr", "items": []})
        written.append(sum(index.sizes[before:]))
    assert max(written[-10:]) <= max(written[:10]), "a new order's index writes do not grow with the orders before"
    assert len(h.resolver._dependents(born_id("erp.customers:9"))) == 300


def test_fuzzy_rule_suggests_but_never_merges() -> None:
    h = Harness(CONFIG)
    h.change("erp.customers", "1", erp("Società Agricola Verdi", zip="50123"))
    h.change("shop.customers", "2", shop("Societa Agricola  Verdi", zip_code="50123"))
    h.change("shop.customers", "3", shop("Verdi Holding", zip_code="50123"))
    h.change("shop.customers", "4", shop("Società Agricola Verdi", zip_code="10121"))  # another block
    assert len(h.live("customer")) == 4
    assert [(s["id"], s["candidate_id"]) for s in h.suggestions] == [
        (born_id("shop.customers:2"), born_id("erp.customers:1"))
    ]
    assert h.suggestions[0]["score"] >= 85


def test_a_truncate_deletes_every_row_of_the_object_known_before_it() -> None:
    h = Harness(CONFIG)
    h.change("erp.customers", "1", erp("Kappa", "k@kappa.example"))
    h.change("shop.customers", "3", shop("Kappa Shop", "k@kappa.example"))
    h.change("erp.customers", "2", erp("Lambda"))
    h.change("erp.materials", "m1", {"number": "SKU-1", "text": "Bolt"})
    before_truncate = h.ticks
    h.ticks += 5  # room for changes made before the truncate that are read after it
    outputs = h.truncate("erp.customers")
    assert sorted((o.key, o.value is None or o.value["deleted"]) for o in outputs) == sorted(
        [(born_id("erp.customers:1"), True)] * 2 + [(born_id("erp.customers:2"), True)] * 2
    ), "erp is authoritative: each golden record ends with its final record and a tombstone"
    assert h.live("customer") == [] and [p["sku"] for p in h.live("product")] == ["SKU-1"]
    h.ticks = before_truncate
    assert h.change("erp.customers", "4", erp("Mu")) == [], "a row the truncate removed, read after it"
    assert h.change("erp.customers", "2", erp("Lambda 2")) == [], "a change before the truncate, read after it"
    h.ticks += 10
    [reborn] = h.change("erp.customers", "2", erp("Lambda again"), op="c")
    assert reborn.value is not None and reborn.value["version"] == 3 and not reborn.value["deleted"]
    h.ticks -= 11  # the truncate read again
    assert h.truncate("erp.customers") == []


def test_a_truncate_of_a_line_table_empties_the_orders_and_leaves_the_headers() -> None:
    h = Harness(CONFIG)
    h.change("erp.customers", "7", erp("Nu"))
    h.change("erp.materials", "m1", {"number": "SKU-1", "text": "Bolt"})
    h.change("erp.orders", "o1", {"number": "SO-1", "customer": "7", "total": "4"})
    for line in (1, 2):
        h.change("erp.order_lines", f"o1-{line}", {"order": "o1", "line": line, "material": "m1", "qty": "2"})
    assert len(h.live("sales_order")[0]["lines"]) == 2
    h.truncate("erp.order_lines")
    [order] = h.live("sales_order")
    assert order["lines"] == [] and order["order_number"] == "SO-1"
    assert h.golden_of("erp.order_lines:o1-1") is None
