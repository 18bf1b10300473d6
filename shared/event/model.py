"""The request body of POST /api/events/track, as a pydantic model (also its /docs schema)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError, SchemaValidator, core_schema

from shared.event.fields import (
    Amount,
    Flag,
    FreeText,
    Id,
    IpAddress,
    JsonObject,
    Name,
    Seconds,
    Tags,
    Timestamp,
    Url,
    UrlText,
    UserAgentText,
    text,
)
from shared.event.limits import MAX_EVENT_TYPE_CHARS


class TrackEvent(BaseModel):
    """The request body of POST /api/events/track, field for field as the contract lists it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: Id
    event_type: Annotated[str, text(MAX_EVENT_TYPE_CHARS)]
    event_time: Timestamp
    event_attributes: JsonObject

    link_id: Id
    link_slug: Id
    link_label: Name
    link_title: FreeText
    link_original_url: Url
    link_attributes: JsonObject
    link_created_at: Timestamp
    link_expires_at: Timestamp
    link_tags: Tags

    user_id: Id
    user_name: Name
    user_email: Name
    user_attributes: JsonObject

    team_id: Id
    team_name: Name
    team_attributes: JsonObject
    project_id: Id
    project_name: Name
    project_attributes: JsonObject

    qr_code_id: Id
    qr_code_name: Name
    qr_code_attributes: JsonObject

    visitor_id: Id
    session_id: Id
    ip_address: IpAddress
    country: Name
    city: Name
    device_type: Name
    browser: Name
    os: Name
    user_agent: UserAgentText | None = None  # None: take the request's

    referrer: UrlText | None = None  # None: take the request's
    utm_source: Name
    utm_medium: Name
    utm_campaign: Name
    utm_term: Name
    utm_content: Name

    time_spent_sec: Seconds = 0.0
    is_bounce: Flag = True
    is_qr_scan: Flag = False
    conversion_type: Name
    conversion_value: Amount = 0.0

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        # A JSON null takes the field's default, as if it had not been sent.
        if isinstance(data, dict) and None in data.values():
            return {key: value for key, value in data.items() if value is not None}
        return data

    @model_validator(mode="after")
    def _event_type_not_blank(self) -> TrackEvent:
        if not self.event_type.strip():
            raise PydanticCustomError("blank", "must not be empty")
        return self


# TrackEvent's own compiled field validators, without the model. Validating an event into a
# dict of the fields it sent skips building and copying a 46-field model instance and the two
# Python model validators, about 40 % of the validation's CPU (measured on /batch); the
# defaults come from FIELD_DEFAULTS. `shared.event.parse` applies the model validators' two
# rules itself (a null is absent; event_type not blank), and tests/unit/shared/event/
# test_fields_validator.py holds the result to TrackEvent's on generated events.
def _field_schemas() -> tuple[dict[str, core_schema.TypedDictField], core_schema.CoreConfig]:
    node: Any = TrackEvent.__pydantic_core_schema__
    while node["type"] != "model":  # the after-validator wraps the model
        node = node["schema"]
    config: core_schema.CoreConfig = node.get("config", {})
    node = node["schema"]
    while node["type"] != "model-fields":  # the before-validator wraps the fields
        node = node["schema"]
    fields = {}
    for name, field in node["fields"].items():
        schema = field["schema"]
        if schema["type"] == "default":  # absent fields stay absent: FIELD_DEFAULTS fills them
            schema = schema["schema"]
        fields[name] = core_schema.typed_dict_field(schema, required=False)
    return fields, config


_FIELDS, _CONFIG = _field_schemas()
FIELDS = SchemaValidator(core_schema.typed_dict_schema(_FIELDS, extra_behavior="ignore"), _CONFIG)
"""One event (a dict) -> the fields it sent, each validated as TrackEvent validates it."""
FIELDS_LIST = SchemaValidator(
    core_schema.list_schema(core_schema.typed_dict_schema(_FIELDS, extra_behavior="ignore"), fail_fast=True),
    _CONFIG,
)
"""A list of events in one call; stops at the first invalid one (the caller then goes event by event)."""
FIELD_DEFAULTS: dict[str, Any] = {
    # event_type is required: its placeholder only keeps the fields in the model's order.
    name: "" if info.is_required() else info.get_default(call_default_factory=True)
    for name, info in TrackEvent.model_fields.items()
}
"""Every field's default, in the model's order (link_tags' [] must be copied, not shared)."""
