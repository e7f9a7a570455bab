"""The sObjects of the Salesforce simulation (Account, Contact, Opportunity, Product2): describe metadata, Ids.

Field types, lengths and key prefixes follow Salesforce's Object Reference; custom fields end in __c and
an external id field is described with externalId true. Each object seamline writes carries Seamline_Id__c
(external id: the golden id) and Seamline_Version__c (the canonical version), and the custom object
Inventory_Level__c holds stock levels.
"""

from __future__ import annotations

from typing import Any

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
_SYSTEM = {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"}
_AUDIT = [("CreatedDate", "datetime"), ("LastModifiedDate", "datetime"), ("SystemModstamp", "datetime")]

CURRENCIES = ("EUR", "USD", "CNY", "BDT", "CHF")
"""The org's active currencies (multi-currency org): the CurrencyIsoCode picklist."""
STAGES = ("Prospecting", "Negotiation", "Closed Won", "Closed Lost")
"""The Opportunity sales process of the sample org: the StageName picklist."""
UNITS_OF_MEASURE = ("Each", "Kilogram", "Meter")
"""The Product2 QuantityUnitOfMeasure picklist of the sample org."""

_SEAMLINE: list[tuple[str, str, bool, dict[str, Any]]] = [
    ("Seamline_Id__c", "string", True, {"length": 80, "custom": True, "externalId": True}),
    ("Seamline_Version__c", "double", True, {"precision": 18, "scale": 0, "custom": True}),
]

# object -> (key prefix, [(field, type, nillable, extra)])
_OBJECTS: dict[str, tuple[str, list[tuple[str, str, bool, dict[str, Any]]]]] = {
    "Account": (
        "001",
        [
            ("Id", "id", False, {}),
            ("IsDeleted", "boolean", False, {}),
            ("Name", "string", False, {"length": 255}),
            ("Type", "picklist", True, {"picklist": ["Prospect", "Customer - Direct", "Partner"]}),
            ("Industry", "picklist", True, {"picklist": ["Banking", "Retail", "Technology"]}),
            ("AnnualRevenue", "currency", True, {"precision": 18, "scale": 0}),
            ("NumberOfEmployees", "int", True, {"digits": 8}),
            ("Phone", "phone", True, {"length": 40}),
            ("Website", "url", True, {"length": 255}),
            ("Description", "textarea", True, {"length": 32000}),
            ("BillingStreet", "textarea", True, {"length": 255}),
            ("BillingPostalCode", "string", True, {"length": 20}),
            ("BillingCity", "string", True, {"length": 40}),
            ("BillingCountry", "string", True, {"length": 80}),
            ("VAT_Number__c", "string", True, {"length": 30, "custom": True}),
            ("ERP_Customer_Number__c", "string", True, {"length": 20, "custom": True, "externalId": True}),
            ("Rating__c", "double", True, {"precision": 4, "scale": 2, "custom": True}),
            ("Discount__c", "percent", True, {"precision": 5, "scale": 2, "custom": True}),
            ("LastActivityDate", "date", True, {}),
            ("OwnerId", "reference", False, {"referenceTo": ["User"]}),
            *_SEAMLINE,
        ],
    ),
    "Contact": (
        "003",
        [
            ("Id", "id", False, {}),
            ("IsDeleted", "boolean", False, {}),
            ("AccountId", "reference", True, {"referenceTo": ["Account"]}),
            ("FirstName", "string", True, {"length": 40}),
            ("LastName", "string", False, {"length": 80}),
            ("Email", "email", True, {"length": 80}),
            ("Phone", "phone", True, {"length": 40}),
            ("Birthdate", "date", True, {}),
            ("HasOptedOutOfEmail", "boolean", False, {}),
            ("MailingCountry", "string", True, {"length": 80}),
            ("OwnerId", "reference", False, {"referenceTo": ["User"]}),
            *_SEAMLINE,
        ],
    ),
    "Opportunity": (
        "006",
        [
            ("Id", "id", False, {}),
            ("IsDeleted", "boolean", False, {}),
            ("AccountId", "reference", True, {"referenceTo": ["Account"]}),
            ("Name", "string", False, {"length": 120}),
            ("Amount", "currency", True, {"precision": 18, "scale": 2}),
            ("CurrencyIsoCode", "picklist", False, {"length": 3, "picklist": list(CURRENCIES)}),
            ("CloseDate", "date", False, {}),
            ("StageName", "picklist", False, {"length": 40, "picklist": list(STAGES)}),
            ("ERP_Order_Number__c", "string", True, {"length": 40, "custom": True}),
            ("OwnerId", "reference", False, {"referenceTo": ["User"]}),
            *_SEAMLINE,
        ],
    ),
    "Product2": (
        "01t",
        [
            ("Id", "id", False, {}),
            ("IsDeleted", "boolean", False, {}),
            ("Name", "string", False, {"length": 255}),
            ("ProductCode", "string", True, {"length": 255}),
            ("Description", "textarea", True, {"length": 4000}),
            ("IsActive", "boolean", False, {}),
            ("QuantityUnitOfMeasure", "picklist", True, {"length": 255, "picklist": list(UNITS_OF_MEASURE)}),
            *_SEAMLINE,
        ],
    ),
    "Inventory_Level__c": (
        "a02",
        [
            ("Id", "id", False, {}),
            ("IsDeleted", "boolean", False, {}),
            ("Name", "string", False, {"length": 80}),
            ("Product_Code__c", "string", True, {"length": 80, "custom": True}),
            ("Location__c", "string", True, {"length": 40, "custom": True}),
            ("Quantity_On_Hand__c", "double", True, {"precision": 18, "scale": 4, "custom": True}),
            ("Quantity_Reserved__c", "double", True, {"precision": 18, "scale": 4, "custom": True}),
            ("OwnerId", "reference", False, {"referenceTo": ["User"]}),
            *_SEAMLINE,
        ],
    ),
}

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
DEFAULT_OWNER = "005000000000001AAA"


def object_names() -> list[str]:
    return list(_OBJECTS)


def defaults(obj: str) -> dict[str, Any]:
    """Values a new record gets when the insert leaves them out: non-nillable booleans are false and
    CurrencyIsoCode is the org's corporate currency (the first of CURRENCIES)."""
    fields = {name: (kind, nillable) for name, kind, nillable, _ in _OBJECTS[obj][1]}
    made: dict[str, Any] = {
        name: False for name, (kind, nillable) in fields.items() if kind == "boolean" and not nillable
    }
    if "CurrencyIsoCode" in fields:
        made["CurrencyIsoCode"] = CURRENCIES[0]
    return made


def field_types(obj: str) -> dict[str, str]:
    """Field name -> Salesforce field type of one object, audit fields included."""
    return {name: kind for name, kind, _, _ in _OBJECTS[obj][1]} | dict(_AUDIT)


def external_ids(obj: str) -> list[str]:
    """The external id fields of one object, the fields an upsert can match records on."""
    return [name for name, _, _, extra in _OBJECTS[obj][1] if extra.get("externalId")]


def required(obj: str) -> list[str]:
    """Fields a create must set: not nillable, without a default, not set by the system."""
    made = defaults(obj)
    return [
        name
        for name, _, nillable, _ in _OBJECTS[obj][1]
        if not nillable and name not in _SYSTEM and name not in made and name != "OwnerId"
    ]


def createable(obj: str) -> set[str]:
    """Fields an API write may set (everything but Id, IsDeleted and the audit fields)."""
    return {name for name, _, _, _ in _OBJECTS[obj][1] if name not in _SYSTEM}


def object_of(record: str) -> str | None:
    """The object whose key prefix starts a record Id, None for an Id of no known object."""
    return next((obj for obj, (prefix, _) in _OBJECTS.items() if record.startswith(prefix)), None)


def record_id(obj: str, number: int) -> str:
    """The 18-character Id of the `number`-th record of `obj` (15 case-sensitive characters + checksum)."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    short = _OBJECTS[obj][0] + "5g" + digits.rjust(10, "0")
    suffix = ""
    for chunk in (short[0:5], short[5:10], short[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if char.isupper())
        suffix += _SUFFIX[bits]
    return short + suffix


def describe(obj: str, version: str) -> dict[str, Any]:
    """The body of GET /services/data/vXX.X/sobjects/<obj>/describe."""
    fields = [_field(name, kind, nillable, extra) for name, kind, nillable, extra in _OBJECTS[obj][1]]
    fields += [_field(name, kind, False, {}) for name, kind in _AUDIT]
    return {
        "name": obj,
        "label": obj,
        "keyPrefix": _OBJECTS[obj][0],
        "custom": obj.endswith("__c"),
        "queryable": True,
        "retrieveable": True,
        "replicateable": True,
        "deletable": True,
        "undeletable": True,
        "fields": fields,
        "urls": {
            "sobject": f"/services/data/v{version}/sobjects/{obj}",
            "describe": f"/services/data/v{version}/sobjects/{obj}/describe",
            "rowTemplate": f"/services/data/v{version}/sobjects/{obj}/{{ID}}",
        },
    }


def _field(name: str, kind: str, nillable: bool, extra: dict[str, Any]) -> dict[str, Any]:
    system = name in _SYSTEM
    text = kind not in _SOAP_TYPES
    return {
        "name": name,
        "label": name.removesuffix("__c").replace("_", " "),
        "type": kind,
        "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
        "nillable": nillable,
        "length": extra.get("length", 18 if kind in ("id", "reference") else 0) if text or kind == "id" else 0,
        "precision": extra.get("precision", 0),
        "scale": extra.get("scale", 0),
        "digits": extra.get("digits", 0),
        "custom": extra.get("custom", False),
        "externalId": extra.get("externalId", False),
        "idLookup": name == "Id" or extra.get("externalId", False),
        "createable": not system,
        "updateable": not system,
        "filterable": True,
        "sortable": kind != "textarea",
        "referenceTo": extra.get("referenceTo", []),
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": value, "value": value}
            for value in extra.get("picklist", [])
        ],
    }
