"""An Omnidesk account in memory: staff, users, cases with their messages and notes, labels.

Objects have the fields Omnidesk's API answers with (`case_id`, `case_number`, `user_id`, `staff_id`,
`status`, `labels`, …); the server wraps them (`{"case": {…}}`) and lists them keyed `"0"`, `"1"`, ….
Every refusal is an `OmnideskProblem` with Omnidesk-style words.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

CASE_STATUSES = ("open", "waiting", "closed")
CHANNELS = (
    "email", "web", "call", "live_chat", "facebook", "fb_chat", "vkontakte", "vk_chat", "twitter",
    "instagram_posts", "instagram_chat", "ok_chat", "telegram", "skype", "slack", "mattermost", "viber",
    "line", "zalo", "wa_chat", "youscan", "avito", "idea",
)  # fmt: skip
"""Channel codes of Omnidesk's statistics filter, as `palachX/laravel-omnidesk` docs/ru/api.md copies
them (`call` is «Звонки»); custom channels are `cch<id>`. The group names of that list (`sync`,
`async`, `social`, `messengers`) are filters, not a case's channel."""
USER_IDENTIFIERS = ("user_email", "user_phone", "user_custom_id")
DEFAULT_STAFF_EMAIL = "admin@demo.omnidesk.ru"
DEFAULT_API_KEY = "sandbox-omnidesk-api-key-0000000000"


class OmnideskProblem(Exception):
    """A refused request: HTTP status, Omnidesk's error code and a sentence for people."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, Any]:
        return {"status": "error", "error": self.error, "description": self.description}


def digits(text: Any) -> str:
    return "".join(ch for ch in str(text or "") if ch.isdigit())


def matches(value: Any, pattern: str) -> bool:
    """Omnidesk search: `^x^` exact, `^x` starts with, `x^` ends with, otherwise contains (case-blind)."""
    text = str(value or "").casefold()
    wanted = pattern.casefold()
    exact_start, exact_end = wanted.startswith("^"), wanted.endswith("^") and len(wanted) > 1
    core = wanted.strip("^")
    if exact_start and exact_end:
        return text == core
    if exact_start:
        return text.startswith(core)
    if exact_end:
        return text.endswith(core)
    return core in text


class AccountStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        self.case_list_honours_user_id = False
        """`user_id` is not among the case list's documented filters: ignored unless a test says so."""
        self.staff: dict[int, dict[str, Any]] = {}
        self.api_keys: dict[str, str] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.cases: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.labels: dict[int, dict[str, Any]] = {}
        self._user_ids = itertools.count(2_000_001)
        self._case_ids = itertools.count(5_000_001)
        self._message_ids = itertools.count(9_000_001)
        self._label_ids = itertools.count(301)
        self.add_staff(
            staff_id=100,
            staff_email=DEFAULT_STAFF_EMAIL,
            staff_full_name="Администратор",
            api_key=DEFAULT_API_KEY,
        )

    # -- time ------------------------------------------------------------------------------------

    def now(self) -> str:
        """Omnidesk's date format: `Mon, 05 May 2014 00:15:17 +0300` (Moscow time)."""
        moment = datetime.fromtimestamp(self._clock(), UTC)
        return format_datetime(moment.astimezone(ZoneInfo("Europe/Moscow")))

    # -- staff -----------------------------------------------------------------------------------

    def add_staff(
        self,
        *,
        staff_id: int | None = None,
        staff_email: str,
        staff_full_name: str = "",
        active: bool = True,
        api_key: str | None = None,
    ) -> dict[str, Any]:
        sid = int(staff_id) if staff_id is not None else max(self.staff, default=100) + 1
        if any(
            s["staff_email"].casefold() == staff_email.casefold()
            for s in self.staff.values()
            if s["staff_id"] != sid
        ):
            raise OmnideskProblem(400, "staff_email_exists", f"staff e-mail {staff_email} is already used")
        now = self.now()
        staff = {
            "staff_id": sid,
            "staff_email": staff_email,
            "staff_full_name": staff_full_name,
            "staff_signature": "",
            "thumbnail": "",
            "active": bool(active),
            "created_at": now,
            "updated_at": now,
        }
        self.staff[sid] = staff
        if api_key:
            self.api_keys[staff_email.casefold()] = api_key
        return staff

    def authenticate(self, email: str, api_key: str) -> dict[str, Any] | None:
        if self.api_keys.get(email.casefold()) != api_key:
            return None
        return next((s for s in self.staff.values() if s["staff_email"].casefold() == email.casefold()), None)

    def staff_or_404(self, staff_id: int) -> dict[str, Any]:
        if staff_id not in self.staff:
            raise OmnideskProblem(404, "staff_not_found", f"staff {staff_id} does not exist")
        return self.staff[staff_id]

    # -- users -----------------------------------------------------------------------------------

    def create_user(self, data: dict[str, Any]) -> dict[str, Any]:
        identifiers = {key: str(data[key]).strip() for key in USER_IDENTIFIERS if data.get(key)}
        if not identifiers:
            raise OmnideskProblem(
                400, "user_identifier_required", "give user_email, user_phone or user_custom_id"
            )
        for key, value in identifiers.items():
            clash = self.find_user(key, value)
            if clash is not None:
                raise OmnideskProblem(
                    400, "user_already_exists", f"user {clash['user_id']} already has {key} {value}"
                )
        now = self.now()
        first = next(iter(identifiers))
        user = {
            "user_id": next(self._user_ids),
            "user_full_name": str(data.get("user_full_name") or ""),
            "company_name": str(data.get("company_name") or ""),
            "company_position": str(data.get("company_position") or ""),
            "thumbnail": "",
            "confirmed": False,
            "active": True,
            "deleted": False,
            "created_at": now,
            "updated_at": now,
            "type": first.removeprefix("user_").replace("custom_id", "custom"),
            "user_email": identifiers.get("user_email", ""),
            "user_phone": identifiers.get("user_phone", ""),
            "user_custom_id": identifiers.get("user_custom_id", ""),
            "user_note": str(data.get("user_note") or ""),
            "language_id": int(data.get("language_id") or 1),
            "custom_fields": dict(data.get("custom_fields") or {}),
            "linked_users": [],
        }
        self.users[user["user_id"]] = user
        return user

    def find_user(self, key: str, value: str) -> dict[str, Any] | None:
        """The user an identifier belongs to; phones compare by their digits, as Omnidesk normalises them."""
        for user in self.users.values():
            stored = user.get(key) or ""
            if not stored or user["deleted"]:
                continue
            if key == "user_phone" and digits(stored) == digits(value):
                return user
            if key != "user_phone" and stored.casefold() == value.casefold():
                return user
        return None

    def user_or_404(self, user_id: int) -> dict[str, Any]:
        if user_id not in self.users:
            raise OmnideskProblem(404, "user_not_found", f"user {user_id} does not exist")
        return self.users[user_id]

    def search_users(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        found = [u for u in self.users.values() if not u["deleted"]]
        for key in ("user_phone", "user_email", "user_custom_id", "user_full_name"):
            if filters.get(key):
                found = [u for u in found if u.get(key) and matches(u[key], filters[key])]
        return sorted(found, key=lambda u: u["user_id"])

    def update_user(self, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
        user = self.user_or_404(user_id)
        for key in (
            "user_full_name",
            "company_name",
            "company_position",
            "user_note",
            "user_phone",
            "user_email",
        ):
            if key in data:
                user[key] = str(data[key] or "")
        user["updated_at"] = self.now()
        return user

    # -- labels ----------------------------------------------------------------------------------

    def create_label(self, title: str) -> dict[str, Any]:
        title = (title or "").strip()
        if not title:
            raise OmnideskProblem(400, "label_title_required", "label_title is required")
        if any(label["label_title"].casefold() == title.casefold() for label in self.labels.values()):
            raise OmnideskProblem(400, "label_already_exists", f"label «{title}» already exists")
        label = {"label_id": next(self._label_ids), "label_title": title}
        self.labels[label["label_id"]] = label
        return label

    def _check_labels(self, labels: Any) -> list[int]:
        if not isinstance(labels, list):
            raise OmnideskProblem(400, "labels_invalid", "labels must be an array of label ids")
        ids: list[int] = []
        for label in labels:
            try:
                label_id = int(label)
            except (TypeError, ValueError):
                raise OmnideskProblem(400, "labels_invalid", f"label {label!r} is not a label id") from None
            if label_id not in self.labels:
                raise OmnideskProblem(400, "label_not_found", f"label {label_id} does not exist")
            ids.append(label_id)
        return list(dict.fromkeys(ids))

    # -- cases -----------------------------------------------------------------------------------

    def create_case(self, data: dict[str, Any]) -> dict[str, Any]:
        subject = str(data.get("subject") or "").strip()
        content = str(data.get("content") or "").strip()
        if not subject:
            raise OmnideskProblem(400, "subject_required", "subject is required")
        if not content:
            raise OmnideskProblem(400, "content_required", "content is required")
        identifiers = {key: str(data[key]).strip() for key in USER_IDENTIFIERS if data.get(key)}
        if not identifiers:
            raise OmnideskProblem(
                400,
                "user_identifier_required",
                "give user_email, user_phone or user_custom_id of the case's user",
            )
        status = str(data.get("status") or "open")
        if status not in CASE_STATUSES:
            raise OmnideskProblem(400, "status_invalid", f"status must be one of {', '.join(CASE_STATUSES)}")
        channel = str(data.get("channel") or "web")
        if channel not in CHANNELS and not (channel.startswith("cch") and channel[3:].isdigit()):
            raise OmnideskProblem(
                400, "channel_invalid", f"channel {channel!r} is not an Omnidesk channel code"
            )
        staff_id = self._active_staff(data.get("staff_id")) if data.get("staff_id") is not None else 0
        labels = self._check_labels(data.get("labels") or [])
        user = next(
            (found for key, value in identifiers.items() if (found := self.find_user(key, value))), None
        )
        if user is None:
            user = self.create_user({**identifiers, "user_full_name": data.get("user_full_name")})
        case_id = next(self._case_ids)
        now = self.now()
        case = {
            "case_id": case_id,
            "case_number": f"{case_id // 1_000_000:03d}-{case_id % 1_000_000:06d}",
            "subject": subject,
            "user_id": user["user_id"],
            "staff_id": staff_id,
            "group_id": int(data.get("group_id") or 0),
            "status": status,
            "priority": str(data.get("priority") or "normal"),
            "channel": channel,
            "recipient": user.get("user_phone") or user.get("user_email") or "",
            "deleted": False,
            "spam": False,
            "created_at": now,
            "updated_at": now,
            "closed_at": now if status == "closed" else "-",
            "language_id": int(data.get("language_id") or 1),
            "custom_fields": dict(data.get("custom_fields") or {}),
            "labels": labels,
        }
        self.cases[case_id] = case
        self._add_message(case, content=content, user_id=user["user_id"], staff_id=0, note=False)
        return case

    def _active_staff(self, value: Any) -> int:
        try:
            staff_id = int(value)
        except (TypeError, ValueError):
            raise OmnideskProblem(400, "staff_id_invalid", f"staff_id {value!r} is not a number") from None
        staff = self.staff.get(staff_id)
        if staff is None:
            raise OmnideskProblem(400, "staff_not_found", f"staff {staff_id} does not exist")
        if not staff["active"]:
            raise OmnideskProblem(400, "staff_disabled", f"staff {staff_id} is disabled")
        return staff_id

    def case_or_404(self, case_id: int) -> dict[str, Any]:
        case = self.cases.get(case_id)
        if case is None or case["deleted"]:
            raise OmnideskProblem(404, "case_not_found", f"case {case_id} does not exist")
        return case

    def update_case(self, case_id: int, data: dict[str, Any]) -> dict[str, Any]:
        case = self.case_or_404(case_id)
        if "status" in data:
            status = str(data["status"])
            if status not in CASE_STATUSES:
                raise OmnideskProblem(
                    400, "status_invalid", f"status must be one of {', '.join(CASE_STATUSES)}"
                )
            if status == "closed" and case["status"] != "closed":
                case["closed_at"] = self.now()
            case["status"] = status
        if "staff_id" in data:
            case["staff_id"] = self._active_staff(data["staff_id"]) if data["staff_id"] else 0
        if "labels" in data:
            case["labels"] = self._check_labels(data["labels"])
        for key in ("subject", "priority"):
            if key in data:
                case[key] = str(data[key])
        case["updated_at"] = self.now()
        return case

    def list_cases(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        found = [c for c in self.cases.values() if not c["deleted"]]

        def keep(key: str, read: Callable[[dict[str, Any]], str]) -> None:
            nonlocal found
            wanted = set(filters.get(key) or []) | set(filters.get(f"{key}[]") or [])
            if wanted:
                found = [c for c in found if read(c) in wanted]

        keep("status", lambda c: c["status"])
        keep("channel", lambda c: c["channel"])
        if self.case_list_honours_user_id:
            keep("user_id", lambda c: str(c["user_id"]))
        keep("staff_id", lambda c: str(c["staff_id"]))
        keep("user_custom_id", lambda c: self.users[c["user_id"]].get("user_custom_id", ""))
        return sorted(found, key=lambda c: c["case_id"], reverse=True)

    # -- messages --------------------------------------------------------------------------------

    def add_message(self, case_id: int, data: dict[str, Any], *, note: bool) -> dict[str, Any]:
        case = self.case_or_404(case_id)
        content = str(data.get("content") or "").strip()
        if not content:
            raise OmnideskProblem(400, "content_required", "content is required")
        staff_id, user_id = data.get("staff_id"), data.get("user_id")
        if note or staff_id is not None:
            if user_id is not None and not note:
                raise OmnideskProblem(400, "author_ambiguous", "give staff_id or user_id, not both")
            sid = self._active_staff(staff_id) if staff_id is not None else 100
            return self._add_message(case, content=content, user_id=0, staff_id=sid, note=note)
        if user_id is None:
            raise OmnideskProblem(
                400, "author_required", "give staff_id (a reply) or user_id (the user's message)"
            )
        if int(user_id) != case["user_id"]:
            raise OmnideskProblem(400, "user_mismatch", f"user {user_id} is not the user of case {case_id}")
        return self._add_message(case, content=content, user_id=int(user_id), staff_id=0, note=False)

    def _add_message(
        self, case: dict[str, Any], *, content: str, user_id: int, staff_id: int, note: bool
    ) -> dict[str, Any]:
        now = self.now()
        message = {
            "message_id": next(self._message_ids),
            "case_id": case["case_id"],
            "user_id": user_id,
            "staff_id": staff_id,
            "content": content,
            "content_html": "<p>" + content.replace("\n", "<br>") + "</p>",
            "note": note,
            "created_at": now,
        }
        self.messages[message["message_id"]] = message
        case["updated_at"] = now
        return message

    def messages_of(self, case_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["case_id"] == case_id]

    # -- seeding and state -----------------------------------------------------------------------

    def seed(
        self,
        staff: Iterable[dict[str, Any]] = (),
        users: Iterable[dict[str, Any]] = (),
        labels: Iterable[str] = (),
        cases: Iterable[dict[str, Any]] = (),
    ) -> dict[str, list[int]]:
        """`cases` as `POST /api/cases.json` takes them (what agents or Omnidesk's own telephony
        integration opened), `labels` given by id or by title."""
        made: dict[str, list[int]] = {"staff": [], "users": [], "labels": [], "cases": []}
        for item in staff:
            made["staff"].append(
                self.add_staff(
                    staff_id=item.get("staff_id") or item.get("id"),
                    staff_email=item.get("staff_email")
                    or item.get("email")
                    or f"staff{len(self.staff) + 1}@demo.omnidesk.ru",
                    staff_full_name=item.get("staff_full_name") or item.get("name") or "",
                    active=item.get("active", True),
                    api_key=item.get("api_key"),
                )["staff_id"]
            )
        for item in users:
            made["users"].append(self.create_user(item)["user_id"])
        for title in labels:
            made["labels"].append(self.create_label(title)["label_id"])
        by_title = {label["label_title"].casefold(): label_id for label_id, label in self.labels.items()}
        for item in cases:
            titles = [by_title.get(str(label).casefold(), label) for label in item.get("labels") or []]
            made["cases"].append(self.create_case({**item, "labels": titles})["case_id"])
        return made

    def dump(self) -> dict[str, Any]:
        label_titles = {label_id: label["label_title"] for label_id, label in self.labels.items()}
        cases = []
        for case in sorted(self.cases.values(), key=lambda c: c["case_id"]):
            cases.append(
                {
                    **case,
                    "label_titles": [label_titles[i] for i in case["labels"] if i in label_titles],
                    "messages": self.messages_of(case["case_id"]),
                }
            )
        return {
            "staff": list(self.staff.values()),
            "users": list(self.users.values()),
            "labels": list(self.labels.values()),
            "cases": cases,
        }
