"""amoCRM request bodies and answers, without HTTP: what each intent sends, and how facts are read back.

Kept apart from the adapter so the mapping can be read (and tested) as data: every function here is a
pure function of the intent, the ids already known, and the account's pipelines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Literal

from mango_bridge.calls.visitor import Visitor
from mango_bridge.crm.errors import BadSettings
from mango_bridge.crm.port import CallAnnotation
from mango_bridge.policy.facts import CrmUser, EntityRef, FoundEntity, FoundKind
from mango_bridge.policy.intents import CallResult, LogCall, Side

CLOSED_STATUS_IDS = frozenset({142, 143})
"""«Успешно реализовано» / «Закрыто и не реализовано»: the same ids in every amoCRM pipeline."""
UNSORTED_STATUS_TYPE = 1
PHONE_ENUM = "WORK"
SEARCH_DIGITS = 10
MIN_SEARCH_DIGITS = 5
MAX_FILTER_IDS = 250

EntityType = Literal["contacts", "companies", "leads"]
ENTITY_TYPE: dict[str, EntityType] = {"contact": "contacts", "company": "companies", "deal": "leads"}
REF_KIND: dict[str, FoundKind] = {"contacts": "contact", "companies": "company", "leads": "deal"}

CALL_STATUS: dict[CallResult, int] = {"answered": 4, "missed": 6, "reached": 4, "not_reached": 6}
"""amoCRM `call_status`: 4 «разговор состоялся»; 6 «не дозвонился» (no connection). Mango does not tell
a busy line (7) from no answer, and 1–3 are an operator's judgement, so they are never sent."""
CALL_RESULT_TEXT: dict[CallResult, str] = {
    "answered": "Разговор состоялся",
    "missed": "Пропущенный звонок",
    "reached": "Разговор состоялся",
    "not_reached": "Не дозвонился",
}
DIRECTION: dict[Side, str] = {"incoming": "inbound", "outgoing": "outbound"}
NOTE_TYPE: dict[Side, str] = {"incoming": "call_in", "outgoing": "call_out"}


# -- numbers ---------------------------------------------------------------------------------------


def digits(text: Any) -> str:
    return "".join(ch for ch in str(text) if ch.isdigit())


def search_digits(phone: str | None) -> str | None:
    """What to put in `query`: the last 10 digits, because `+7…` and `8…` are stored as different
    strings; None for a number too short to tell one client from another."""
    found = digits(phone or "")[-SEARCH_DIGITS:]
    return found if len(found) >= MIN_SEARCH_DIGITS else None


def phone_values(entity: dict[str, Any], field_code: str) -> list[str]:
    return [
        str(value.get("value", ""))
        for custom in entity.get("custom_fields_values") or []
        if isinstance(custom, dict) and custom.get("field_code") == field_code
        for value in custom.get("values") or []
        if isinstance(value, dict)
    ]


def has_number(entity: dict[str, Any], wanted: str, field_code: str) -> bool:
    """amoCRM's `query` is a substring search over every field: keep only records whose phone really
    ends with the digits searched for."""
    return any(digits(value).endswith(wanted) for value in phone_values(entity, field_code))


def int_id(value: str | int, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadSettings(f"{what} {value!r} is not an amoCRM id (amoCRM ids are numbers)") from None


# -- facts -----------------------------------------------------------------------------------------


def linked_lead_ids(entity: dict[str, Any]) -> list[int]:
    leads = (entity.get("_embedded") or {}).get("leads") or []
    return [int(lead["id"]) for lead in leads if isinstance(lead, dict) and isinstance(lead.get("id"), int)]


def is_open_deal(lead: dict[str, Any]) -> bool:
    return not lead.get("is_deleted") and lead.get("status_id") not in CLOSED_STATUS_IDS


def found_entity(
    kind: Literal["contact", "company"], entity: dict[str, Any], open_deal_ids: Iterable[int]
) -> FoundEntity:
    responsible = entity.get("responsible_user_id")
    tags = ((entity.get("_embedded") or {}).get("tags")) or []
    return FoundEntity(
        kind=kind,
        id=str(entity["id"]),
        name=entity.get("name") or None,
        responsible_user_ids=(str(responsible),) if responsible else (),
        open_deal_ids=tuple(str(lead_id) for lead_id in open_deal_ids),
        fields=entity_fields(entity),
        tags=tuple(str(tag["name"]) for tag in tags if isinstance(tag, dict) and tag.get("name")),
    )


def entity_fields(entity: dict[str, Any]) -> dict[str, str]:
    """Standard and custom fields as text, by the name amoCRM shows, its code and its id, so routing
    rules can name a field either way; several values are joined with ", "."""
    fields: dict[str, str] = {}
    for name in ("name", "first_name", "last_name", "responsible_user_id"):
        if entity.get(name) not in (None, ""):
            fields[name] = str(entity[name])
    for field in entity.get("custom_fields_values") or []:
        if not isinstance(field, dict):
            continue
        values = [str(v.get("value")) for v in field.get("values") or [] if v.get("value") not in (None, "")]
        if not values:
            continue
        text = ", ".join(values)
        for key in (field.get("field_name"), field.get("field_code"), field.get("field_id")):
            if key not in (None, ""):
                fields.setdefault(str(key), text)
    return fields


def crm_user(user: dict[str, Any]) -> CrmUser:
    rights = user.get("rights") or {}
    return CrmUser(
        id=str(user["id"]),
        name=user.get("name") or None,
        blocked=rights.get("is_active") is False,
    )


# -- writes ----------------------------------------------------------------------------------------


def phone_field(phone: str, field_code: str) -> dict[str, Any]:
    return {"field_code": field_code, "values": [{"value": phone, "enum_code": PHONE_ENUM}]}


def client_body(
    *,
    key: str,
    name: str,
    responsible_user_id: int,
    phone: str | None,
    field_code: str,
    source_line: str | None,
    source_line_field: int | None,
    company_id: int | None = None,
) -> dict[str, Any]:
    """A contact or a company. The line the client dialled (F16) goes to `source_line_field` when the
    account has one configured, else to a tag, which amoCRM can filter on."""
    body: dict[str, Any] = {
        "name": name,
        "responsible_user_id": responsible_user_id,
        "created_by": responsible_user_id,
        "request_id": key,
    }
    fields: list[dict[str, Any]] = []
    if phone:
        fields.append(phone_field(phone, field_code))
    embedded: dict[str, Any] = {}
    if source_line:
        if source_line_field is not None:
            fields.append({"field_id": source_line_field, "values": [{"value": source_line}]})
        else:
            embedded["tags"] = [{"name": source_line_tag(source_line)}]
    if fields:
        body["custom_fields_values"] = fields
    if company_id is not None:
        embedded["companies"] = [{"id": company_id}]
    if embedded:
        body["_embedded"] = embedded
    return body


def source_line_tag(line: str) -> str:
    return f"Линия {line}"


def deal_body(
    *,
    key: str,
    name: str,
    responsible_user_id: int,
    pipeline_id: int | None,
    status_id: int | None,
    contact_ids: list[int],
    company_ids: list[int],
    source_line: str | None,
    source_line_field: int | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "responsible_user_id": responsible_user_id,
        "created_by": responsible_user_id,
        "request_id": key,
    }
    if pipeline_id is not None:
        body["pipeline_id"] = pipeline_id
    if status_id is not None:
        body["status_id"] = status_id
    embedded: dict[str, Any] = {}
    if contact_ids:
        embedded["contacts"] = [
            {"id": contact_id, "is_main": index == 0} for index, contact_id in enumerate(contact_ids)
        ]
    if company_ids:
        embedded["companies"] = [{"id": company_ids[0]}]
    if source_line:
        if source_line_field is not None:
            body["custom_fields_values"] = [
                {"field_id": source_line_field, "values": [{"value": source_line}]}
            ]
        else:
            embedded["tags"] = [{"name": source_line_tag(source_line)}]
    if embedded:
        body["_embedded"] = embedded
    return body


def resolve_pipeline(
    pipelines: list[dict[str, Any]], program: str | None, status: str | None
) -> tuple[int | None, int | None]:
    """(pipeline_id, status_id) from settings that name them by id or by name; nothing given → amoCRM's
    default (the main pipeline's first stage). A status alone is looked for in the main pipeline first."""
    if program is None and status is None:
        return None, None
    pipeline: dict[str, Any] | None = None
    if program is not None:
        pipeline = _pick(pipelines, program)
        if pipeline is None:
            names = ", ".join(f"{p.get('name')} ({p.get('id')})" for p in pipelines)
            raise BadSettings(f"deal pipeline {program!r} is not in amoCRM; its pipelines: {names or 'none'}")
    if status is None:
        return int(pipeline["id"]) if pipeline else None, None
    candidates = [pipeline] if pipeline is not None else sorted(pipelines, key=lambda p: not p.get("is_main"))
    for candidate in candidates:
        found = _pick(_statuses(candidate), status)
        if found is not None:
            if found.get("type") == UNSORTED_STATUS_TYPE:
                raise BadSettings(
                    f"deal status {status!r} is the «Неразобранное» stage: choose a regular stage "
                    f"(or create unsorted incoming leads instead)"
                )
            return int(candidate["id"]), int(found["id"])
    where = f"pipeline {pipeline.get('name')!r}" if pipeline else "any amoCRM pipeline"
    names = ", ".join(
        f"{s.get('name')} ({s.get('id')})"
        for c in candidates
        for s in _statuses(c)
        if s.get("type") != UNSORTED_STATUS_TYPE
    )
    raise BadSettings(f"deal status {status!r} is not in {where}; stages: {names or 'none'}")


def _statuses(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in (pipeline.get("_embedded") or {}).get("statuses") or [] if isinstance(s, dict)]


def _pick(items: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    text = wanted.strip()
    if text.isdigit():
        return next((item for item in items if str(item.get("id")) == text), None)
    folded = text.casefold()
    return next((item for item in items if str(item.get("name", "")).strip().casefold() == folded), None)


def unsorted_statuses(pipelines: list[dict[str, Any]]) -> set[int]:
    return {int(s["id"]) for p in pipelines for s in _statuses(p) if s.get("type") == UNSORTED_STATUS_TYPE}


def unsorted_body(
    *,
    source_uid: str,
    source_name: str,
    service_code: str,
    uniq: str,
    name: str,
    responsible_user_id: int,
    phone: str,
    line_number: str | None,
    called_at: int,
    duration: int,
    field_code: str,
    call_event_needed: bool,
) -> dict[str, Any]:
    """An incoming lead in «Неразобранное» with the caller as its contact (visible once accepted).
    `from` is the customer, `phone` the line they called (amoCRM's library example puts the line or
    extension there); without a line both carry the customer's number."""
    metadata: dict[str, Any] = {
        "uniq": uniq,
        "called_at": called_at,
        "from": phone,
        "phone": line_number or phone,
        "duration": duration,
        "service_code": service_code,
        "is_call_event_needed": call_event_needed,
        "call_responsible": responsible_user_id,
    }
    body: dict[str, Any] = {
        "source_uid": source_uid,
        "source_name": source_name,
        "request_id": source_uid,
        "metadata": metadata,
        "_embedded": {
            "leads": [{"name": name, "responsible_user_id": responsible_user_id}],
            "contacts": [
                {
                    "name": name,
                    "responsible_user_id": responsible_user_id,
                    "custom_fields_values": [phone_field(phone, field_code)],
                }
            ],
        },
    }
    body["created_at"] = called_at
    return body


def call_params(
    intent: LogCall, *, uniq: str, source: str, link: str | None, responsible: int
) -> dict[str, Any]:
    """What amoCRM shows on a call: the same fields for `POST /api/v4/calls` and a call note's params."""
    params: dict[str, Any] = {
        "uniq": uniq,
        "duration": intent.duration_seconds,
        "source": source,
        "phone": intent.phone or "",
        "call_result": CALL_RESULT_TEXT[intent.result],
        "call_status": CALL_STATUS[intent.result],
        "call_responsible": responsible,
    }
    if link:
        params["link"] = link
    return params


def call_body(intent: LogCall, params: dict[str, Any], responsible: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        **params,
        "direction": DIRECTION[intent.direction],
        "responsible_user_id": responsible,
        "created_by": responsible,
        "request_id": intent.key,
    }
    if intent.started_at is not None:
        body["created_at"] = intent.started_at
    return body


def call_note_body(
    intent: LogCall, params: dict[str, Any], responsible: int, entity_id: int
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entity_id": entity_id,
        "note_type": NOTE_TYPE[intent.direction],
        "params": params,
        "responsible_user_id": responsible,
        "created_by": responsible,
        "request_id": intent.key,
    }
    if intent.started_at is not None:
        body["created_at"] = intent.started_at
    return body


def common_note(entity_id: int, text: str, key: str, created_by: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entity_id": entity_id,
        "note_type": "common",
        "params": {"text": text},
        "request_id": key,
    }
    if created_by is not None:
        body["created_by"] = created_by
    return body


def recordings_text(urls: list[str]) -> str:
    lines = [f"{index}. {url}" for index, url in enumerate(urls, start=1)]
    return "Записи разговора (по одной на каждое плечо звонка):\n" + "\n".join(lines)


def call_tracking_text(
    number: str | None, number_type: Literal["dynamic", "static"], visitor: Visitor | None = None
) -> str:
    kind = "динамический" if number_type == "dynamic" else "статический"
    head = f"Коллтрекинг: звонок на {kind} номер {number or '(номер неизвестен)'}"
    if visitor is None:
        return head
    lines = [f"{label}: {value}" for label, value in visitor.fields().items() if label != "Тип номера"]
    return "\n".join([head, *lines])


def annotation_text(annotation: CallAnnotation) -> str:
    """One note per annotation, in the words the integrations' call tabs use."""
    parts: list[str] = []
    if annotation.topics:
        parts.append("Речевая аналитика — тематики: " + ", ".join(annotation.topics))
    if annotation.transcript:
        lines = [f"{phrase.name}: {phrase.text}" for phrase in annotation.transcript]
        parts.append("Текст разговора (Речевая аналитика):\n" + "\n".join(lines))
    if annotation.quality_score is not None:
        parts.append(f"Оценка качества (постзвонковая оценка клиента): {annotation.quality_score} из 10")
    if annotation.recordings:
        parts.append("Запись разговора: " + "\n".join(link.url for link in annotation.recordings))
    return "\n\n".join(parts)


def stable_uid(*parts: str) -> str:
    """An id that is the same on every retry of the same intent (amoCRM keeps it as `uniq`)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def first_created(body: Any, key: str) -> dict[str, Any] | None:
    items = ((body or {}).get("_embedded") or {}).get(key) if isinstance(body, dict) else None
    first = items[0] if isinstance(items, list) and items else None
    return first if isinstance(first, dict) and isinstance(first.get("id"), int) else None


def ref(entity_type: str, entity_id: int | str, name: str | None = None) -> EntityRef:
    return EntityRef(kind=REF_KIND[entity_type], id=str(entity_id), name=name)
