"""What a fresh sandbox account holds before anyone writes to it: users, pipelines, custom fields.

Ids live in separate ranges per kind (contacts 2…, companies 3…, leads 4…, users 8…, pipelines 9…)
so a test that mixes up a contact id and a lead id fails loudly instead of hitting the wrong record.
Status ids 142 (won) and 143 (lost) are the same in every pipeline, as in amoCRM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = 31_000_001
ACCOUNT_NAME = "Sandbox"
ADMIN_USER_ID = 8_000_001

WON_STATUS_ID = 142
LOST_STATUS_ID = 143
CLOSED_STATUS_IDS = frozenset({WON_STATUS_ID, LOST_STATUS_ID})

STATUS_TYPE_REGULAR = 0
STATUS_TYPE_UNSORTED = 1

PHONE_ENUM_CODES = ("WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER")
EMAIL_ENUM_CODES = ("WORK", "PRIV", "OTHER")

TASK_TYPES = (
    {"id": 1, "name": "Связаться", "color": None, "icon_id": None, "code": "FOLLOW_UP"},
    {"id": 2, "name": "Встреча", "color": None, "icon_id": None, "code": "MEETING"},
)
USERS_GROUPS = ({"id": 0, "name": "Отдел продаж", "uuid": None},)
DATETIME_SETTINGS = {
    "date_pattern": "d.m.Y H:i",
    "short_date_pattern": "d.m.Y",
    "short_time_pattern": "H:i",
    "date_format": "d.m.Y",
    "time_format": "H:i:s",
    "timezone": "Europe/Moscow",
    "timezone_offset": "+03:00",
}


@dataclass
class User:
    id: int
    name: str
    email: str
    is_admin: bool = False
    is_active: bool = True
    phone_number: str | None = None

    def as_api(self, base_url: str) -> dict[str, Any]:
        full = {"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"}
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "lang": "ru",
            "phone_number": self.phone_number,
            "rights": {
                "leads": dict(full),
                "contacts": dict(full),
                "companies": dict(full),
                "tasks": {"edit": "A", "delete": "A"},
                "mail_access": True,
                "catalog_access": True,
                "files_access": True,
                "status_rights": [],
                "is_admin": self.is_admin,
                "is_free": False,
                "is_active": self.is_active,
                "group_id": None,
                "role_id": None,
            },
            "_links": {"self": {"href": f"{base_url}/api/v4/users/{self.id}"}},
        }


def default_users() -> list[User]:
    """Three working managers and one who left (inactive): enough to test "first active responsible"."""
    return [
        User(ADMIN_USER_ID, "Анна Смирнова", "anna@sandbox.test", is_admin=True),
        User(8_000_002, "Борис Иванов", "boris@sandbox.test"),
        User(8_000_003, "Вера Кузнецова", "vera@sandbox.test"),
        User(8_000_004, "Григорий Орлов", "grigory@sandbox.test", is_active=False),
    ]


@dataclass(frozen=True)
class Status:
    id: int
    name: str
    sort: int
    type: int = STATUS_TYPE_REGULAR
    color: str = "#99ccff"

    @property
    def is_closed(self) -> bool:
        return self.id in CLOSED_STATUS_IDS

    @property
    def is_unsorted(self) -> bool:
        return self.type == STATUS_TYPE_UNSORTED


@dataclass(frozen=True)
class Pipeline:
    id: int
    name: str
    sort: int
    is_main: bool
    statuses: tuple[Status, ...]

    def status(self, status_id: int) -> Status | None:
        return next((status for status in self.statuses if status.id == status_id), None)

    @property
    def unsorted_status(self) -> Status:
        return next(status for status in self.statuses if status.is_unsorted)

    @property
    def first_open_status(self) -> Status:
        """Where a lead lands when only the pipeline is given."""
        return min(
            (status for status in self.statuses if not status.is_unsorted and not status.is_closed),
            key=lambda status: status.sort,
        )

    def status_as_api(self, status: Status, base_url: str) -> dict[str, Any]:
        return {
            "id": status.id,
            "name": status.name,
            "sort": status.sort,
            "is_editable": not status.is_closed and not status.is_unsorted,
            "pipeline_id": self.id,
            "color": status.color,
            "type": status.type,
            "account_id": ACCOUNT_ID,
            "_links": {"self": {"href": f"{base_url}/api/v4/leads/pipelines/{self.id}/statuses/{status.id}"}},
        }

    def as_api(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "sort": self.sort,
            "is_main": self.is_main,
            "is_unsorted_on": True,
            "is_archive": False,
            "account_id": ACCOUNT_ID,
            "_links": {"self": {"href": f"{base_url}/api/v4/leads/pipelines/{self.id}"}},
            "_embedded": {"statuses": [self.status_as_api(status, base_url) for status in self.statuses]},
        }


def _closing_statuses() -> tuple[Status, Status]:
    return (
        Status(WON_STATUS_ID, "Успешно реализовано", 10000, color="#CCFF66"),
        Status(LOST_STATUS_ID, "Закрыто и не реализовано", 11000, color="#D5D8DB"),
    )


def default_pipelines() -> list[Pipeline]:
    return [
        Pipeline(
            9_000_001,
            "Воронка",
            sort=1,
            is_main=True,
            statuses=(
                Status(9_100_001, "Неразобранное", 10, type=STATUS_TYPE_UNSORTED, color="#c1c1c1"),
                Status(9_100_002, "Первичный контакт", 20),
                Status(9_100_003, "Переговоры", 30),
                Status(9_100_004, "Принимают решение", 40),
                *_closing_statuses(),
            ),
        ),
        Pipeline(
            9_000_002,
            "Повторные продажи",
            sort=2,
            is_main=False,
            statuses=(
                Status(9_100_011, "Неразобранное", 10, type=STATUS_TYPE_UNSORTED, color="#c1c1c1"),
                Status(9_100_012, "Новая заявка", 20),
                Status(9_100_013, "Счёт выставлен", 30),
                *_closing_statuses(),
            ),
        ),
    ]


@dataclass(frozen=True)
class FieldDefinition:
    """An account's custom field: multitext fields (PHONE, EMAIL) carry enum codes on each value."""

    id: int
    name: str
    code: str | None
    type: str
    sort: int
    enums: tuple[tuple[int, str], ...] = field(default=())

    def enum_id_for(self, code: str) -> int | None:
        return next((enum_id for enum_id, value in self.enums if value == code), None)

    def enum_code_for(self, enum_id: int) -> str | None:
        return next((value for candidate, value in self.enums if candidate == enum_id), None)

    def as_api(self, entity_type: str, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "account_id": ACCOUNT_ID,
            "code": self.code,
            "sort": self.sort,
            "is_api_only": False,
            "enums": [
                {"id": enum_id, "value": value, "sort": index * 2}
                for index, (enum_id, value) in enumerate(self.enums, start=1)
            ]
            or None,
            "group_id": None,
            "required_statuses": [],
            "is_deletable": self.code is None,
            "is_predefined": self.code is not None,
            "entity_type": entity_type,
            "_links": {"self": {"href": f"{base_url}/api/v4/{entity_type}/custom_fields/{self.id}"}},
        }


def _enums(first_id: int, codes: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    return tuple((first_id + offset, code) for offset, code in enumerate(codes))


def default_custom_fields() -> dict[str, tuple[FieldDefinition, ...]]:
    return {
        "contacts": (
            FieldDefinition(600_001, "Телефон", "PHONE", "multitext", 4, _enums(700_001, PHONE_ENUM_CODES)),
            FieldDefinition(600_002, "Email", "EMAIL", "multitext", 6, _enums(700_011, EMAIL_ENUM_CODES)),
            FieldDefinition(600_003, "Должность", "POSITION", "text", 2),
        ),
        "companies": (
            FieldDefinition(600_011, "Телефон", "PHONE", "multitext", 4, _enums(700_021, PHONE_ENUM_CODES)),
            FieldDefinition(600_012, "Email", "EMAIL", "multitext", 6, _enums(700_031, EMAIL_ENUM_CODES)),
            FieldDefinition(600_013, "Web", "WEB", "url", 8),
            FieldDefinition(600_014, "Адрес", "ADDRESS", "textarea", 10),
        ),
        "leads": (
            FieldDefinition(600_021, "utm_source", "UTM_SOURCE", "tracking_data", 2),
            FieldDefinition(600_022, "utm_medium", "UTM_MEDIUM", "tracking_data", 4),
            FieldDefinition(600_023, "utm_campaign", "UTM_CAMPAIGN", "tracking_data", 6),
            FieldDefinition(600_024, "Номер линии", None, "text", 8),
        ),
    }
