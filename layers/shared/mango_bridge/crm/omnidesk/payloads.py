"""Omnidesk request bodies and answers, without HTTP: what each write sends and how answers are read.

Pure functions of the intent and the ids already known, so the mapping can be read (and tested) as
data.
"""

from __future__ import annotations

from typing import Any

from mango_bridge.crm.errors import BadSettings
from mango_bridge.crm.port import CallAnnotation
from mango_bridge.policy.facts import CrmUser, EntityRef

MISSED_LABEL = "Пропущенный звонок"
"""Marks a missed-call case (the red receiver of seed 003): the caller's next missed calls join it."""
HANDLED_LABEL = "Перезвонили"
"""Replaces the missed-call mark once a callback reached the caller and has its recording (the receiver
turns green: F37, seed 003 п.13)."""
DEFAULT_CHANNEL = "call"
"""The «Звонки» channel's code. Omnidesk's channel filter lists `email, web, call, live_chat, …`
(statistics docs, as copied by `palachX/laravel-omnidesk` docs/ru/api.md); an account whose calls
channel has another code sets it in the secret (`"channel"`)."""


def digits(text: Any) -> str:
    return "".join(ch for ch in str(text or "") if ch.isdigit())


def phone_variants(phone: str | None) -> list[str]:
    """The ways one number may be stored: `+79161234567` and `79161234567`."""
    number = (phone or "").strip()
    if not digits(number):
        return []
    plain = digits(number)
    return list(dict.fromkeys([number, f"+{plain}", plain]))


def same_number(stored: Any, wanted: str) -> bool:
    """Omnidesk's search may match more than asked: keep users whose phone has exactly these digits."""
    return bool(digits(wanted)) and digits(stored) == digits(wanted)


def listed(body: Any, key: str) -> list[dict[str, Any]]:
    """Items of a list answer `{"0": {key: {…}}, "1": …, "total_count": N}`, in Omnidesk's order."""
    if not isinstance(body, dict):
        return []
    numbered = sorted((int(k), v) for k, v in body.items() if str(k).isdigit())
    return [item[key] for _, item in numbered if isinstance(item, dict) and isinstance(item.get(key), dict)]


def unwrapped(body: Any, key: str) -> dict[str, Any] | None:
    inner = body.get(key) if isinstance(body, dict) else None
    return inner if isinstance(inner, dict) else None


def int_id(value: str | int, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadSettings(f"{what} {value!r} is not an Omnidesk id (Omnidesk ids are numbers)") from None


def crm_user(staff: dict[str, Any]) -> CrmUser:
    """A staff member for the employee mapping; a disabled one is not offered (F43)."""
    return CrmUser(
        id=str(staff["staff_id"]),
        name=staff.get("staff_full_name") or staff.get("staff_email") or None,
        blocked=staff.get("active") is False,
    )


def user_ref(user: dict[str, Any]) -> EntityRef:
    return EntityRef(
        kind="contact", id=str(user["user_id"]), name=user.get("user_full_name") or user.get("user_phone")
    )


def case_ref(case: dict[str, Any]) -> EntityRef:
    return EntityRef(kind="case", id=str(case["case_id"]), name=case.get("subject") or None)


def user_body(phone: str) -> dict[str, Any]:
    """A user known only by the number: Omnidesk shows the number until an agent names them (F33)."""
    return {"user": {"user_phone": phone}}


def case_body(
    *,
    subject: str,
    content: str,
    channel: str,
    user_phone: str,
    staff_id: int,
    status: str,
    labels: list[int],
) -> dict[str, Any]:
    case: dict[str, Any] = {
        "user_phone": user_phone,
        "subject": subject,
        "content": content,
        "channel": channel,
        "staff_id": staff_id,
        "status": status,
    }
    if labels:
        case["labels"] = labels
    return {"case": case}


def reply_body(content: str, staff_id: int) -> dict[str, Any]:
    """The employee's message: a conversation, with its recording (seed 003: «сообщение с плеером»)."""
    return {"message": {"content": content, "staff_id": staff_id, "do_not_send_email": True}}


def user_message_body(content: str, user_id: int) -> dict[str, Any]:
    """The caller's message: another missed call grouped into the case (F36)."""
    return {"message": {"content": content, "user_id": user_id}}


def note_body(content: str, staff_id: int) -> dict[str, Any]:
    """An internal note: a call attempt that did not reach the caller (F35), speech analytics."""
    return {"note": {"content": content, "staff_id": staff_id}}


def recordings_text(urls: list[str]) -> str:
    if len(urls) == 1:
        return f"Запись разговора: {urls[0]}"
    return "Записи разговора:\n" + "\n".join(f"{index}. {url}" for index, url in enumerate(urls, start=1))


def conversation_text(text: str, urls: list[str]) -> str:
    return f"{text}\n{recordings_text(urls)}" if urls else text


def annotation_text(annotation: CallAnnotation) -> str | None:
    """Speech-analytics topics, the transcript and the post-call score as one note (F20–F22)."""
    parts: list[str] = []
    if annotation.topics:
        parts.append("Темы разговора: " + ", ".join(annotation.topics))
    if annotation.transcript:
        lines = [f"{phrase.name}: {phrase.text}" for phrase in annotation.transcript]
        parts.append("Расшифровка разговора:\n" + "\n".join(lines))
    if annotation.quality_score is not None:
        parts.append(f"Оценка качества: {annotation.quality_score} из 10")
    if annotation.recordings:
        parts.append("Запись разговора: " + "\n".join(link.url for link in annotation.recordings))
    return "\n\n".join(parts) or None
