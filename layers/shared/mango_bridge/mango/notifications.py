"""Pydantic models for every notification Mango POSTs to the external system.

Real payloads mix strings and numbers for the same field (`seq`, `extension`, `result`…), leave
fields empty, and grow new fields over API versions; the models accept all of that, keep unknown
fields, and store extensions and ids as strings (leading zeros and base64 padding matter).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


OptInt = Annotated[int | None, BeforeValidator(_blank_to_none)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, populate_by_name=True)


class Party(_Lenient):
    extension: str | None = None
    number: str | None = None
    taken_from_call_id: str | None = None
    line_number: str | None = None
    acd_group: str | None = None
    was_transferred: bool | None = None
    hold_initiator: bool | None = None


class CallTracking(_Lenient):
    number: str | None = None
    type: OptInt = None


CallState = Literal["Appeared", "Connected", "OnHold", "Disconnected"]


class CallEvent(_Lenient):
    """`events/call`: one state change of one leg (`call_id`) of a call (`entry_id`)."""

    kind: Literal["call"] = Field(default="call", exclude=True)
    entry_id: str
    call_id: str
    timestamp: int
    seq: int
    call_state: CallState
    location: str | None = None
    from_: Party = Field(default_factory=Party, alias="from")
    to: Party = Field(default_factory=Party)
    disconnect_reason: OptInt = None
    dct: CallTracking | None = None
    transfer: str | None = None
    command_id: str | None = None
    sip_call_id: str | None = None
    task_id: OptInt = None
    callback_initiator: str | None = None

    @property
    def natural_key(self) -> str:
        return f"{self.call_id}#{self.seq:08d}"


class SummaryEvent(_Lenient):
    """`events/summary`: the end of the whole call, with its timings and outcome."""

    kind: Literal["summary"] = Field(default="summary", exclude=True)
    entry_id: str
    call_direction: OptInt = None
    from_: Party = Field(default_factory=Party, alias="from")
    to: Party = Field(default_factory=Party)
    line_number: str | None = None
    create_time: OptInt = None
    forward_time: OptInt = None
    talk_time: OptInt = None
    end_time: OptInt = None
    entry_result: OptInt = None
    disconnect_reason: OptInt = None
    dct: CallTracking | None = None
    sip_call_id: str | None = None

    @property
    def natural_key(self) -> str:
        return self.entry_id


class RecordingEvent(_Lenient):
    """`events/recording`: Started / Continued / Completed of one recording."""

    kind: Literal["recording"] = Field(default="recording", exclude=True)
    recording_id: str
    recording_state: str
    seq: OptInt = None
    entry_id: str
    call_id: str | None = None
    extension: str | None = None
    timestamp: int
    completion_code: OptInt = None
    recipient: str | None = None
    command_id: str | None = None

    @property
    def natural_key(self) -> str:
        return f"{self.recording_id}#{self.recording_state}#{self.seq or 0:08d}"


class RecordStored(_Lenient):
    """`events/record/added` (file is downloadable) and `events/record/tagged` (topics recognised)."""

    kind: Literal["record/added", "record/tagged"] = "record/added"
    entry_id: str
    recording_id: str
    timestamp: int
    product_id: str | None = None
    user_id: str | None = None

    @property
    def natural_key(self) -> str:
        return self.recording_id


class DtmfEvent(_Lenient):
    """`events/dtmf`: a complete digit sequence collected at an IVR position."""

    kind: Literal["dtmf"] = Field(default="dtmf", exclude=True)
    entry_id: str
    call_id: str
    seq: OptInt = None
    dtmf: str
    timestamp: int
    location: str | None = None
    initiator: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    line_number: str | None = None

    @property
    def natural_key(self) -> str:
        return f"{self.call_id}#{self.seq or 0:08d}"


class SmsEvent(_Lenient):
    kind: Literal["sms"] = Field(default="sms", exclude=True)
    command_id: str | None = None
    timestamp: OptInt = None
    reason: OptInt = None

    @property
    def natural_key(self) -> str:
        return f"{self.command_id}#{self.timestamp}#{self.reason}"


class RecognizedOffline(_Lenient):
    kind: Literal["recognized/offline"] = Field(default="recognized/offline", exclude=True)
    request_id: str
    product_id: str | None = None
    recognized: OptInt = None
    result: OptInt = None
    message: str | None = None

    @property
    def natural_key(self) -> str:
        return self.request_id


class CommandResult(_Lenient):
    """`result/<command>`: the outcome of a command we sent, matched by `command_id`."""

    command: str = Field(default="", exclude=True)
    command_id: str | None = None
    result: OptInt = None

    @property
    def kind(self) -> str:
        return f"result/{self.command}"

    @property
    def natural_key(self) -> str:
        return self.command_id or "none"


class UnknownNotification(BaseModel):
    """A suffix this version does not know: stored and acknowledged so nothing is lost."""

    suffix: str
    data: Any = None

    @property
    def kind(self) -> str:
        return self.suffix

    @property
    def natural_key(self) -> str:
        return hashlib.sha256(json.dumps(self.data, sort_keys=True).encode()).hexdigest()[:32]


Notification = (
    CallEvent
    | SummaryEvent
    | RecordingEvent
    | RecordStored
    | DtmfEvent
    | SmsEvent
    | RecognizedOffline
    | CommandResult
    | UnknownNotification
)

_BY_SUFFIX: dict[str, type[BaseModel]] = {
    "events/call": CallEvent,
    "events/summary": SummaryEvent,
    "events/recording": RecordingEvent,
    "events/record/added": RecordStored,
    "events/record/tagged": RecordStored,
    "events/dtmf": DtmfEvent,
    "events/sms": SmsEvent,
    "events/recognized/offline": RecognizedOffline,
}


class MalformedNotification(ValueError):
    """The `json` field is not JSON, or lacks / mistypes what the notification needs."""


def normalise_suffix(suffix: str) -> str:
    """`/events/call/` → `events/call`; Mango's D26 examples sometimes prefix `vpbx/api/v1/`."""
    cleaned = suffix.strip("/").lower()
    for prefix in ("vpbx/api/v1/", "api/v1/", "vpbx/"):
        if cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :]
    return cleaned


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "json"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_notification(suffix: str, json_text: str) -> Notification:
    """Parse the `json` form field of a notification delivered to `suffix`."""
    suffix = normalise_suffix(suffix)
    try:
        data = json.loads(json_text)
    except ValueError as exc:
        raise MalformedNotification(f"json field is not valid JSON: {exc}") from None
    except RecursionError:
        # «любой вложенности» (p.5), but a parser has a limit: kept as evidence, refused by name.
        raise MalformedNotification("json field is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise MalformedNotification(f"json field must be a JSON object, got {type(data).__name__}")
    if suffix.startswith("result/"):
        model: type[BaseModel] = CommandResult
        data = {**data, "command": suffix.removeprefix("result/")}
    elif suffix in _BY_SUFFIX:
        model = _BY_SUFFIX[suffix]
        if model is RecordStored:
            data = {**data, "kind": suffix.removeprefix("events/")}
    else:
        return UnknownNotification(suffix=suffix, data=data)
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        raise MalformedNotification(f"{suffix}: {_describe(exc)}") from None


def entry_id_of(notification: Notification) -> str | None:
    return getattr(notification, "entry_id", None)


COMPACT_STRING_LIMIT = 1024
"""Longest string a compact notification keeps: Mango's ids, numbers and states are far shorter."""


def _declared(model: BaseModel) -> dict[str, Any]:
    """The fields a model declares (by their wire names), without the extras Mango may add."""
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        if info.exclude:
            continue
        value = getattr(model, name)
        if value is None:
            continue
        if isinstance(value, BaseModel):
            value = _declared(value)
        elif isinstance(value, str) and len(value) > COMPACT_STRING_LIMIT:
            value = value[:COMPACT_STRING_LIMIT]
        out[info.alias or name] = value
    return out


def compact_json(notification: Notification) -> str:
    """What the fold needs of a notification, as JSON `parse_notification` reads back to the same
    model: its declared fields only (strings capped), without the extras that made it too big to keep
    inline. The raw body is kept elsewhere; this is the foldable view of it. An unknown suffix has no
    declared fields: `{}`."""
    if isinstance(notification, UnknownNotification):
        return "{}"
    return json.dumps(_declared(notification), ensure_ascii=False, separators=(",", ":"))
