"""The request bodies the sandbox accepts, and how a broken one is reported in amoCRM's words.

Types are strict (a string where amoCRM wants an int is an error, as on the real server), unknown
keys are ignored. Errors come back per item as `{"code", "path", "detail"}` with dotted paths such as
`custom_fields_values.0.values.0.enum_code`. The codes and Symfony-style details follow the one
validation sample in the reference (`NotSupportedChoice`) and the messages seen in amoCRM's issue
tracker; the rest of the vocabulary (`NotNull`, `NotBlank`, `InvalidType`, `Count`, `Range`,
`NotFound`, `Duplicate`) is the sandbox's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EntityType = Literal["leads", "contacts", "companies"]
NoteEntityType = Literal["leads", "contacts", "companies", "customers"]
CallStatus = Literal[1, 2, 3, 4, 5, 6, 7]
NoteType = Literal[
    "common",
    "call_in",
    "call_out",
    "service_message",
    "extended_service_message",
    "message_cashier",
    "geolocation",
    "sms_in",
    "sms_out",
    "attachment",
]

_TYPE_NAMES = {
    "int_type": "int",
    "int_parsing": "int",
    "string_type": "string",
    "bool_type": "bool",
    "float_type": "float",
    "list_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
}


@dataclass
class ItemErrors:
    """Everything wrong with one item of a batch; empty means the item may be stored."""

    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, code: str, path: str, detail: str) -> None:
        self.errors.append({"code": code, "path": path, "detail": detail})

    def not_null(self, path: str) -> None:
        self.add("NotNull", path, "This value should not be null.")

    def not_a_choice(self, path: str) -> None:
        self.add("NotSupportedChoice", path, "The value you selected is not a valid choice.")

    def not_found(self, path: str, what: str) -> None:
        self.add("NotFound", path, f"{what} not found")

    def __bool__(self) -> bool:
        return bool(self.errors)


def _join(*parts: object) -> str:
    return ".".join(str(part) for part in parts if part != "")


def report_validation_error(exc: ValidationError, errors: ItemErrors, prefix: str = "") -> None:
    for error in exc.errors():
        path = _join(prefix, *error["loc"])
        kind = error["type"]
        if kind == "missing" or (error.get("input") is None and kind in _TYPE_NAMES):
            errors.not_null(path)
        elif kind in _TYPE_NAMES:
            errors.add("InvalidType", path, f"This value should be of type {_TYPE_NAMES[kind]}.")
        elif kind in ("literal_error", "enum"):
            errors.not_a_choice(path)
        elif kind == "string_too_short":
            errors.add("NotBlank", path, "This value should not be blank.")
        elif kind == "too_long":
            limit = (error.get("ctx") or {}).get("max_length")
            errors.add("Count", path, f"This collection should contain {limit} element or less.")
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            errors.add(
                "Range", path, f"This value should be {error['msg'].removeprefix('Input should be ')}."
            )
        else:
            errors.add("InvalidValue", path, error["msg"])


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_item(model: type[ModelT], raw: Any, errors: ItemErrors, prefix: str = "") -> ModelT | None:
    if not isinstance(raw, dict):
        errors.add("InvalidType", prefix, "This value should be of type object.")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        report_validation_error(exc, errors, prefix)
        return None


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class FieldValueIn(Strict):
    value: Any = None
    enum_id: int | None = None
    enum_code: str | None = None


class CustomFieldIn(Strict):
    field_id: int | None = None
    field_code: str | None = None
    values: list[FieldValueIn] | None


class TagIn(Strict):
    id: int | None = None
    name: str | None = None


class EntityRef(Strict):
    id: int
    is_main: bool | None = None


class EntityEmbeddedIn(Strict):
    tags: list[TagIn] | None = None
    contacts: list[EntityRef] | None = None
    companies: list[EntityRef] | None = Field(default=None, max_length=1)


class EntityIn(Strict):
    id: int | None = None
    name: str | None = None
    responsible_user_id: int | None = None
    created_by: int | None = None
    updated_by: int | None = None
    created_at: int | None = None
    updated_at: int | None = None
    custom_fields_values: list[CustomFieldIn] | None = None
    tags_to_add: list[TagIn] | None = None
    tags_to_delete: list[TagIn] | None = None
    request_id: Any = None
    embedded: EntityEmbeddedIn | None = Field(default=None, alias="_embedded")


class ContactIn(EntityIn):
    first_name: str | None = None
    last_name: str | None = None


class CompanyIn(EntityIn):
    pass


class LeadIn(EntityIn):
    price: int | None = None
    status_id: int | None = None
    pipeline_id: int | None = None
    loss_reason_id: int | None = None
    closed_at: int | None = None
    visitor_uid: str | None = None


class ComplexEmbeddedIn(Strict):
    tags: list[TagIn] | None = None
    contacts: list[ContactIn] | None = Field(default=None, max_length=1)
    companies: list[CompanyIn] | None = Field(default=None, max_length=1)
    metadata: dict[str, Any] | None = None
    source: dict[str, Any] | None = None


class ComplexLeadIn(LeadIn):
    embedded: ComplexEmbeddedIn | None = Field(default=None, alias="_embedded")  # type: ignore[assignment]


class SipMetadataIn(Strict):
    uniq: str = Field(min_length=1)
    duration: int = Field(ge=0)
    service_code: str = Field(min_length=1)
    link: str | None = None
    phone: Any
    called_at: int
    caller: Any = Field(default=None, alias="from")
    is_call_event_needed: bool | None = None
    call_responsible: Any = None


class UnsortedEmbeddedIn(Strict):
    leads: list[LeadIn] | None = Field(default=None, max_length=1)
    contacts: list[ContactIn] | None = Field(default=None, max_length=1)
    companies: list[CompanyIn] | None = Field(default=None, max_length=1)


class UnsortedSipIn(Strict):
    source_uid: str = Field(min_length=1)
    source_name: str = Field(min_length=1)
    pipeline_id: int | None = None
    created_at: int | None = None
    request_id: Any = None
    metadata: SipMetadataIn
    embedded: UnsortedEmbeddedIn | None = Field(default=None, alias="_embedded")


class UnsortedActionIn(Strict):
    user_id: int | None = None
    status_id: int | None = None


class CallIn(Strict):
    direction: Literal["inbound", "outbound"]
    uniq: str | None = None
    duration: int = Field(ge=0)
    source: str = Field(min_length=1)
    link: str | None = None
    phone: str = Field(min_length=1)
    call_result: str | None = None
    call_status: CallStatus | None = None
    call_responsible: Any = None
    responsible_user_id: int | None = None
    created_by: int | None = None
    updated_by: int | None = None
    created_at: int | None = None
    updated_at: int | None = None
    request_id: Any = None


class NoteIn(Strict):
    entity_id: int | None = None
    note_type: NoteType
    params: dict[str, Any] | None = None
    created_by: int | None = None
    responsible_user_id: int | None = None
    created_at: int | None = None
    request_id: Any = None
    is_need_to_trigger_digital_pipeline: bool | None = None


class CommonNoteParams(Strict):
    text: str = Field(min_length=1)


class CallNoteParams(Strict):
    uniq: str = Field(min_length=1)
    duration: int = Field(ge=0)
    source: str = Field(min_length=1)
    link: str | None = None
    phone: str = Field(min_length=1)
    call_result: str | None = None
    call_status: CallStatus | None = None
    call_responsible: Any = None


class ServiceMessageParams(Strict):
    service: str = Field(min_length=1)
    text: str = Field(min_length=1)


class SmsNoteParams(Strict):
    text: str = Field(min_length=1)
    phone: str = Field(min_length=1)


NOTE_PARAMS: dict[str, type[Strict]] = {
    "common": CommonNoteParams,
    "call_in": CallNoteParams,
    "call_out": CallNoteParams,
    "service_message": ServiceMessageParams,
    "sms_in": SmsNoteParams,
    "sms_out": SmsNoteParams,
}


class TaskResultIn(Strict):
    text: str


class TaskIn(Strict):
    id: int | None = None
    text: str | None = Field(default=None, min_length=1)
    complete_till: int | None = None
    entity_id: int | None = None
    entity_type: NoteEntityType | None = None
    responsible_user_id: int | None = None
    task_type_id: int | None = None
    duration: int | None = Field(default=None, ge=0)
    is_completed: bool | None = None
    result: TaskResultIn | None = None
    created_by: int | None = None
    updated_by: int | None = None
    created_at: int | None = None
    updated_at: int | None = None
    request_id: Any = None


class LinkIn(Strict):
    entity_id: int | None = None
    to_entity_id: int
    to_entity_type: Literal["leads", "contacts", "companies", "catalog_elements", "customers"]
    metadata: dict[str, Any] | None = None


class SeedUserIn(Strict):
    id: int | None = None
    name: str = Field(min_length=1)
    email: str | None = None
    is_admin: bool = False
    is_active: bool = True
    phone_number: str | None = None


class SeedContactIn(ContactIn):
    """A contact as the API takes it, plus shortcuts: `phones`/`emails` (WORK) and `company_id`."""

    phones: list[str] | None = None
    emails: list[str] | None = None
    company_id: int | None = None


class SeedCompanyIn(CompanyIn):
    phones: list[str] | None = None
    emails: list[str] | None = None


class SeedLeadIn(LeadIn):
    """A lead as the API takes it, plus shortcuts: `contact_ids` (the first is main) and `company_id`."""

    contact_ids: list[int] | None = None
    company_id: int | None = None
