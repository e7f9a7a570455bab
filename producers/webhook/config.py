"""The section of a webhook source: its receiving endpoints, one per provider hook."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from seamline.connectors.sections import SourceSection
from seamline.sections import Section

WebhookProvider = Literal["stripe", "shopify", "zendesk", "salesforce_om", "mailchimp"]


class WebhookEndpoint(Section):
    """One receiving path: which provider posts to it, how requests are authenticated and mapped to changes.

    Paths into a JSON payload are dotted ('data.object.id'). A value source is 'field:<dotted path>' in the
    payload or 'header:<name>' of the request.
    """

    path: str = Field(pattern=r"^/[A-Za-z0-9/_.-]*$", description="URL path the provider posts to, e.g. /stripe.")
    provider: WebhookProvider = Field(
        description="Payload format and authentication: stripe, shopify, zendesk (HMAC-SHA256 signatures), "
        "salesforce_om (Outbound Messaging SOAP, checked against org_id) or mailchimp (audience webhooks, "
        "form-encoded, the secret as the last segment of the URL path: <path>/<secret>)."
    )
    secret: SecretStr | None = Field(
        None,
        description="Signing secret of stripe, shopify and zendesk endpoints, or mailchimp's secret path segment; "
        "write it as ${ENV_VAR}.",
    )
    previous_secret: SecretStr | None = Field(
        None,
        description="While a signing secret is rolled: the old one, also accepted until the provider signs with "
        "the new one only (Shopify takes up to an hour). Remove it afterwards.",
    )
    org_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$",
        description="salesforce_om: the Salesforce organization id (15 or 18 characters) messages must come from.",
    )
    object: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_]+$",
        description="Object name of every change (topic src.<system>.<object>); salesforce_om defaults to the "
        "sObject type of each notification, mailchimp to members.",
    )
    object_field: str | None = Field(
        None, description="JSON providers: dotted path of the payload field naming the object, when `object` is unset."
    )
    record_field: str | None = Field(
        None, description="JSON providers: dotted path of the record inside the payload (default: the whole payload)."
    )
    key_field: str | None = Field(
        None,
        min_length=1,
        description="Dotted path of the record's key in the payload (default id); salesforce_om: the sObject field "
        "(default Id).",
    )
    id_from: str | None = Field(
        None,
        pattern=r"^(field|header):.+$",
        description="Where the provider's event/delivery id is (the change's position, so a redelivery keeps its "
        "event_id): 'field:<path>' or 'header:<name>'. Defaults: stripe field:id, shopify header:X-Shopify-Webhook-Id, "
        "zendesk field:id, salesforce_om the Notification Id.",
    )
    type_from: str | None = Field(
        None,
        pattern=r"^(field|header):.+$",
        description="Where the event type is ('field:type', 'header:X-Shopify-Topic'); used with delete_types.",
    )
    delete_types: list[str] = Field(
        default_factory=list,
        description="Event types published as deletes (op 'd', the record as 'before'), e.g. customer.deleted.",
    )
    tolerance_s: float | None = Field(
        None,
        gt=0,
        description="Largest age (seconds) of a signed time (stripe t=, zendesk timestamp, shopify "
        "X-Shopify-Triggered-At); older or future requests get 401 as replays. Default 300; shopify 14700, "
        "because Shopify retries a delivery for 4 hours and a retry may carry the first X-Shopify-Triggered-At.",
    )
    sync_field: str | None = Field(
        None,
        pattern=r"^[A-Z0-9_]{1,10}$",
        description="mailchimp: merge tag where a mailchimp sink keeps its sync mark (e.g. SEAMLINE): a subscribe or "
        "profile event whose member still holds what the sink wrote is the sink's echo and is not published.",
    )
    max_body_bytes: int = Field(1_048_576, ge=1, description="Larger request bodies get 413 without being read.")

    @model_validator(mode="after")
    def _complete(self) -> WebhookEndpoint:
        if self.provider == "salesforce_om":
            if self.org_id is None:
                raise ValueError(f"endpoint {self.path}: salesforce_om needs org_id (Setup > Company Information)")
        elif self.secret is None:
            raise ValueError(f"endpoint {self.path}: {self.provider} needs the signing secret in `secret`")
        elif self.object is None and self.object_field is None and self.provider != "mailchimp":
            raise ValueError(f"endpoint {self.path}: set `object` or `object_field` to name the changed object")
        return self


class WebhookSource(SourceSection):
    """An HTTP receiver of provider webhooks (push); answers 2xx only after Kafka acknowledged the changes."""

    kind: Literal["webhook"]
    system: str = Field(description="Name of the source system in topics and xrefs, e.g. 'shop'.")
    host: str = Field("127.0.0.1", description="Address to listen on; put a TLS-terminating proxy in front.")
    port: int = Field(8080, ge=1, le=65535, description="Port to listen on.")
    endpoints: list[WebhookEndpoint] = Field(min_length=1, description="The receiving paths, one per provider hook.")
    ack_timeout_s: float = Field(
        4.0,
        gt=0,
        description="Seconds to wait for Kafka's acknowledgement before answering 503 (the sender retries); keep it "
        "under the providers' own response timeouts (Shopify waits 5 s).",
    )
    retry_after_s: int = Field(30, ge=1, description="Retry-After seconds sent with a 503.")
    drain_timeout_s: float = Field(30.0, gt=0, description="On SIGTERM, seconds given to requests in flight to end.")

    def topic_objects(self) -> list[str]:
        """The endpoints' fixed objects; those named by a payload field are known only on arrival."""
        fixed = [
            endpoint.object or ("members" if endpoint.provider == "mailchimp" else None) for endpoint in self.endpoints
        ]
        return [obj for obj in fixed if obj is not None]

    def listening_ports(self) -> dict[str, int]:
        """The receiver's port besides the metrics port."""
        return {**super().listening_ports(), "port": self.port}

    @model_validator(mode="after")
    def _distinct_paths(self) -> WebhookSource:
        paths = [endpoint.path for endpoint in self.endpoints]
        if len(set(paths)) != len(paths):
            raise ValueError(f"endpoint paths must differ; got {paths}")
        return self
