"""Salesforce Outbound Messaging: the SOAP `notifications` message read safely, and its `Ack` answer."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException

from producers.webhook.config import WebhookEndpoint
from producers.webhook.payloads import CONNECTOR, OBJECT_NAME, PayloadError
from producers.webhook.signatures import same_org
from seamline.events import Change, Row

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


class UnknownOrg(PermissionError):
    """The message names another organization than the configured one (Salesforce does not sign messages)."""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child_text(parent: Element, name: str) -> str | None:
    found = parent.find(f"{{{OUTBOUND}}}{name}")
    return None if found is None or found.text is None else found.text.strip()


def _row(sobject: Element) -> Row:
    """Each field element of the sObject as text; xsi:nil="true" is None."""
    row: Row = {}
    for field in sobject:
        nil = field.get(f"{{{XSI}}}nil") == "true"
        row[_local(field.tag)] = None if nil else (field.text or "")
    return row


def notifications(system: str, endpoint: WebhookEndpoint, body: bytes, source_ts_ms: int) -> list[Change]:
    """One change per Notification; raise UnknownOrg for a foreign OrganizationId, PayloadError if malformed."""
    try:
        root = SafeTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise PayloadError(f"the body uses a forbidden XML construct ({type(exc).__name__})") from exc
    except ParseError as exc:
        raise PayloadError(f"the body is not well-formed XML ({exc})") from exc
    message = root.find(f"{{{SOAP}}}Body/{{{OUTBOUND}}}notifications")
    if message is None:
        raise PayloadError("no soapenv:Envelope/soapenv:Body/notifications element of the outbound namespace")
    org = _child_text(message, "OrganizationId")
    if org is None:
        raise PayloadError("notifications has no OrganizationId")
    if not same_org(endpoint.org_id or "", org):
        raise UnknownOrg("OrganizationId is not the configured org_id")
    key_field = endpoint.key_field or "Id"
    changes = []
    for index, notification in enumerate(message.findall(f"{{{OUTBOUND}}}Notification")):
        notification_id = _child_text(notification, "Id")
        sobject = notification.find(f"{{{OUTBOUND}}}sObject")
        if not notification_id or sobject is None:
            raise PayloadError(f"Notification {index + 1} lacks its Id or sObject")
        obj = endpoint.object or (sobject.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
        if not OBJECT_NAME.fullmatch(obj):
            raise PayloadError(f"Notification {index + 1}: sObject has no xsi:type naming its object; set `object`")
        row = _row(sobject)
        key = row.get(key_field)
        if not key:
            raise PayloadError(f"Notification {index + 1}: sObject has no {key_field} field; add it to the message")
        changes.append(
            Change(
                system=system,
                object=obj,
                connector=CONNECTOR,
                op="u",
                key={key_field: key},
                before=None,
                after=row,
                position=notification_id,
                source_ts_ms=source_ts_ms,
            )
        )
    if not changes:
        raise PayloadError("notifications holds no Notification")
    return changes
