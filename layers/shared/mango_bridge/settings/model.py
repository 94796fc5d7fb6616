"""One settings document per tenant (one VPBX connected to one CRM account).

Every setting of Mango's CRM integrations is a field here, its description starting with the Russian name
the user knows from Mango's settings pages; `docs/settings.md` and `docs/settings.schema.json` are generated
from this module (`python -m mango_bridge.settings.reference`). Secrets never live in the document: the
Mango salt and the CRM credentials are held in Secrets Manager and referenced by name. Invalid documents are
refused at write time with every problem named by its field path, so a running call never meets a setting it
cannot act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mango_bridge.settings.errors import InvalidSettings, Problems

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
DEFAULT_MANGO_API = "https://app.mango-office.ru/vpbx/"
DEFAULT_TIMEZONE = "Europe/Moscow"

MAX_ROUTING_RULES = 20
MAX_ROUTING_CONDITIONS = 5
MAX_ROLE_RULES = 40
MAX_ROLE_ORDER = 9999

DIALABLE = re.compile(r"^(?:\+?\d[\d()\-]*|sip:[^\s@]+@[^\s@]+)$")
DIGITS = re.compile(r"^\d+$")
EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]{2,}$")
NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")
PLACEHOLDER = re.compile(r"%([^%\s]*)%")
PLACEHOLDERS = frozenset({"number", "номер"})


def check_tenant_id(tenant_id: str) -> str:
    if not TENANT_ID.fullmatch(tenant_id):
        raise ValueError(
            "tenant id must be 2–63 characters of lower-case latin letters, digits and '-', "
            "starting with a letter or digit"
        )
    return tenant_id


def _text(value: Any) -> Any:
    """CRM ids arrive as numbers from YAML and UIs; blanks mean "not chosen"."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        return value.strip() or None
    return value


def _no_spaces(value: Any) -> Any:
    """Lines and numbers are kept as typed, only without spaces ("+7 495 …" → "+7495…")."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        return re.sub(r"\s+", "", value)
    return value


def _no_spaces_or_none(value: Any) -> Any:
    value = _no_spaces(value)
    return (value or None) if isinstance(value, str) else value


def _trimmed(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


CrmRef = Annotated[Annotated[str, Field(min_length=1, max_length=128)] | None, BeforeValidator(_text)]
"""An id chosen from a CRM list (user, need type, stage, pipeline, status): kept as a string."""

Line = Annotated[
    str, Field(min_length=1, max_length=128, pattern=DIALABLE.pattern), BeforeValidator(_no_spaces)
]
"""A Mango line as Mango reports it in `to.line_number`: digits (optionally `+`, `-`, brackets) or a SIP URI."""

Topic = Annotated[str, Field(min_length=1, max_length=255), BeforeValidator(_trimmed)]


def _duplicates(values: list[str], problems: Problems, what: str, *, key: Any = None) -> None:
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        marker = key(value) if key else value
        if marker in seen:
            problems.add(f"[{index}]", f"{what} {value!r} is listed twice (first at [{seen[marker]}])")
        else:
            seen[marker] = index


def _labels(labels: dict[str, str]) -> dict[str, Any]:
    """Russian UI names of a field's choices, carried into the JSON Schema as `x-labels`."""
    return {"x-labels": labels}


STORED = "stored"
"""Validation context key: the document was read back from the table (validated when it was saved).
A rule added later must not lock a tenant out of ingest, so it applies to new documents only."""

YELLOW_PAGES_PROVIDERS: tuple[str, ...] = ()
"""Directories the bridge can ask for a phone's legal entity (F44). None is configured yet."""

YELLOW_PAGES_REFUSED = (
    "«Использовать желтые страницы» cannot be turned on: no yellow-pages provider is configured in this "
    "bridge, so the setting would be ignored. / «Использовать желтые страницы» нельзя включить: поставщик "
    "данных «Желтых страниц» не подключен, настройка не работала бы."
)


class MangoConnection(BaseModel):
    """«API коннектор» of the VPBX: which PBX this tenant is and where its API lives."""

    model_config = ConfigDict(extra="forbid")

    api_key: Annotated[
        str,
        Field(
            min_length=8,
            max_length=128,
            description="Уникальный код вашей АТС — `vpbx_api_key` from ЛК → Интеграции → API коннектор; "
            "every notification must carry it.",
        ),
    ]
    api_base_url: Annotated[
        str,
        Field(
            description="Адрес API ВАТС — where the bridge calls Mango's API; Mango's production API unless "
            "you test against a sandbox. A trailing slash is added."
        ),
    ] = DEFAULT_MANGO_API

    @field_validator("api_key")
    @classmethod
    def _trim_key(cls, value: str) -> str:
        return value.strip()

    @field_validator("api_base_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        url = value.strip()
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValueError("api_base_url must be an http(s) URL")
        return url.rstrip("/") + "/"


class EmployeeMapping(BaseModel):
    """One row of «Сопоставление сотрудников»: calls of extensions without a row are not saved (F4)."""

    model_config = ConfigDict(extra="forbid")

    extension: Annotated[
        str,
        Field(
            min_length=1,
            max_length=16,
            pattern=r"^\d+$",
            description="Внутренний номер — the employee's extension in the VPBX; a string, because leading "
            "zeros matter (quote it in YAML).",
        ),
        BeforeValidator(_no_spaces),
    ]
    crm_user_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            description="Пользователь CRM — the id of the CRM user this extension acts as (dismissed users "
            "are not offered). Unique among employees whose calls are not ignored.",
        ),
        BeforeValidator(_text),
    ]
    name: Annotated[
        str | None,
        Field(max_length=256, description="ФИО сотрудника — shown in the call journal only."),
        BeforeValidator(_text),
    ] = None
    ignore_calls: bool = Field(
        default=False,
        description="Игнорировать звонки этого оператора — drop every call of this extension, as if it "
        "were not mapped (Omnidesk's per-operator switch, F4/F40).",
    )


class CrmKind(StrEnum):
    """Which CRM the tenant's account lives in; it decides what a call can create there."""

    AMOCRM = "amocrm"
    BPMSOFT = "bpmsoft"
    MEGAPLAN = "megaplan"
    OMNIDESK = "omnidesk"


CRM_KIND_LABELS = {"amocrm": "amoCRM", "bpmsoft": "BPMSoft", "megaplan": "Мегаплан", "omnidesk": "Омнидеск"}


class SecretRef(BaseModel):
    """A Secrets Manager secret by name: credentials never live in the settings document."""

    model_config = ConfigDict(extra="forbid")

    secret_name: str = Field(
        min_length=1,
        max_length=512,
        pattern=r"^[A-Za-z0-9/_+=.@:\-]+$",
        description="Имя секрета — the Secrets Manager secret (name or ARN) holding the credentials as JSON.",
    )


class BpmSoftStorage(BaseModel):
    """BPMSoft only: where what base BPMSoft has no column for is written (see docs/crm/bpmsoft.md)."""

    model_config = ConfigDict(extra="forbid")

    storage: Literal["package", "base"] = Field(
        default="package",
        description="Хранение — `package`: the columns of the bridge's own BPMSoft package (`UsrMcb…`, "
        "installed from `integrations/bpmsoft-package/`), else columns found by the captions Mango's guide "
        "shows; `base`: base columns only, plus the columns mapped below or found by those captions; "
        "whatever has no column goes into the call's note or is off (the connection check says which).",
    )
    columns: dict[
        Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")],
        Annotated[str, Field(min_length=1, max_length=128), BeforeValidator(_text)],
    ] = Field(
        default_factory=dict,
        max_length=40,
        description="Колонки — a column for a field by its code or by the caption users see, e.g. "
        '`{"quality_score": "Оценка качества", "record_links": "UsrCallRecords", "note": "Comment"}`. Keys: '
        "`call_status`, `entry_id`, `line`, `record_links`, `topics`, `transcript`, `quality_score`, "
        "`note`, `dct_<visitor field>` (`dct_client_id`, `dct_utm_source`, …).",
    )


def _split_emails(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,;]", value) if part.strip()]
    return value


class CrmConnection(BaseModel):
    """Tab «Подключение»: where the CRM is and how to log in («Проверить подключение» checks both, F41)."""

    model_config = ConfigDict(extra="forbid")

    kind: CrmKind = Field(
        description="Интеграция — which CRM this tenant writes to.",
        json_schema_extra=_labels(CRM_KIND_LABELS),
    )
    url: str = Field(
        max_length=2048,
        description="URL сервиса — the CRM account's address (e.g. `https://company.bpmsoft.ru`, "
        "`https://company.amocrm.ru`). Trimmed, lower-cased and stored without a trailing slash, as Mango "
        "requires; http is accepted for on-premise installations and local sandboxes.",
    )
    credentials: SecretRef | None = Field(
        default=None,
        description="Логин и пароль API — a reference to the secret with the CRM credentials: BPMSoft "
        '`{"login", "password"}` (Логин/Пароль API BPMSoft); Megaplan `{"login", "password"}`; amoCRM '
        '`{"client_id", "client_secret", "refresh_token"}` or `{"long_lived_token"}`; Omnidesk '
        '`{"staff_email" (or "email"), "api_key", "channel"?}` (the calls channel code, `call` by default). '
        "Calls are not written to the CRM until it is set.",
    )
    notification_emails: Annotated[
        list[
            Annotated[
                str, Field(max_length=254, json_schema_extra={"format": "email"}), BeforeValidator(_trimmed)
            ]
        ],
        Field(
            default_factory=list,
            max_length=20,
            description="E-mail для уведомлений — where important integration problems are reported (F42). "
            "The UI field is comma-separated: a string `a@x.ru, b@y.ru` is accepted and stored as a list.",
        ),
        BeforeValidator(_split_emails),
    ]
    bpmsoft: BpmSoftStorage | None = Field(
        default=None,
        description="Хранение в BPMSoft — BPMSoft only: our own package or base columns, and columns named "
        "by code or caption (see docs/crm/bpmsoft.md).",
    )

    @field_validator("url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        url = value.strip().lower()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http(s) address such as https://company.bpmsoft.ru")
        if re.search(r"\s", url) or parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("url must be the bare address of the CRM: no spaces, login, query or fragment")
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"

    @field_validator("notification_emails")
    @classmethod
    def _check_emails(cls, emails: list[str]) -> list[str]:
        problems = Problems()
        for index, email in enumerate(emails):
            if not EMAIL.fullmatch(email):
                problems.add(f"[{index}]", f"{email!r} is not an e-mail address")
        _duplicates(emails, problems, "e-mail", key=str.lower)
        problems.raise_if_any()
        return emails


class Durations(BaseModel):
    """Talk time below these thresholds makes a call missed / not reached (F3)."""

    model_config = ConfigDict(extra="forbid")

    min_answered_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="Мин. длительность для успешно принятых — an incoming call with less talk time (seconds) "
        "counts as missed («Пропущенный»); 0, Mango's default, counts every connected call as answered.",
    )
    min_reached_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="Мин. длительность для успешно дозвонившихся — an outgoing call with less talk time "
        "(seconds) counts as not reached; 0 (Mango's default) counts every connected call.",
    )


EntityKind = Literal["contact", "company", "lead", "deal", "unsorted"]
ENTITY_LABELS = {
    "contact": "Создать контакт / Клиента (Мегаплан) / пользователя (Омнидеск)",
    "company": "Создать контрагента / компанию",
    "lead": "Создать лид (BPMSoft)",
    "deal": "Клиента и процесс (Мегаплан) / контакт и сделку (amoCRM)",
    "unsorted": "Входящая заявка в «Неразобранное» (amoCRM)",
}

CREATABLE: dict[CrmKind, frozenset[str]] = {
    CrmKind.AMOCRM: frozenset({"contact", "company", "deal", "unsorted"}),
    CrmKind.BPMSOFT: frozenset({"contact", "company", "lead"}),
    CrmKind.MEGAPLAN: frozenset({"contact", "company", "deal"}),
    CrmKind.OMNIDESK: frozenset({"contact"}),
}
"""What each CRM's integration creates from a call; `lead` is BPMSoft's, amoCRM's «сделки» are `deal`."""


def _lead_deal_problems(action: CreateAction | RepeatAction, kinds: set[str], problems: Problems) -> None:
    if "lead" in kinds:
        for name in ("lead_need_type", "lead_stage"):
            if getattr(action, name) is None:
                problems.add(name, "required when a lead is created: choose the need type and stage")
    if "deal" in kinds:
        for name in ("deal_program", "deal_status"):
            if getattr(action, name) is None:
                problems.add(
                    name, "required when a deal is created: choose the program (pipeline) and status"
                )


class CreateAction(BaseModel):
    """What to create for one case of a call from a number the CRM does not know («От нового клиента»)."""

    model_config = ConfigDict(extra="forbid")

    create: list[EntityKind] = Field(
        default_factory=list,
        description="От нового клиента — what to create, several at once (BPMSoft's multi-select); empty "
        "creates nothing, the default: the seeds make creation opt-in. `deal` needs `contact` or `company` "
        "(Megaplan «Клиента и процесс», amoCRM contact + deal); `unsorted` stands alone. Leads are skipped "
        "while `disable_leads` is on.",
        json_schema_extra=_labels(ENTITY_LABELS),
    )
    lead_need_type: CrmRef = Field(
        default=None,
        description="Тип потребности — the lead's need type (BPMSoft `LeadType` id); required with `lead`.",
    )
    lead_stage: CrmRef = Field(
        default=None,
        description="Этап — the stage the lead is created at (BPMSoft `QualifyStatus` id); required with "
        "`lead`.",
    )
    deal_program: CrmRef = Field(
        default=None,
        description="Вид процесса / Воронка — Megaplan program or amoCRM pipeline id; required with `deal`, "
        "optional with `unsorted` (the main pipeline when empty).",
    )
    deal_status: CrmRef = Field(
        default=None,
        description="Статус — the status (Megaplan) or pipeline stage (amoCRM) the deal starts in; required "
        "with `deal`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CreateAction:
        problems = Problems()
        seen: set[str] = set()
        for index, kind in enumerate(self.create):
            if kind in seen:
                problems.add(f"create[{index}]", f"{kind!r} is selected twice")
            seen.add(kind)
        if "deal" in seen and not seen & {"contact", "company"}:
            problems.add(
                "create", "'deal' needs 'contact' or 'company' as well: the new number is stored there"
            )
        if "unsorted" in seen and len(seen) > 1:
            problems.add(
                "create", "'unsorted' cannot be combined: amoCRM creates the contact and deal itself"
            )
        _lead_deal_problems(self, seen, problems)
        problems.raise_if_any()
        return self


class NewNumberPolicy(BaseModel):
    """Calls from numbers the CRM does not know (F8–F11): one choice per case, as Megaplan and amoCRM offer."""

    model_config = ConfigDict(extra="forbid")

    answered_incoming: CreateAction = Field(
        default_factory=CreateAction,
        description="При принятых входящих звонках от нового клиента — created as soon as the call is "
        "answered; creator and responsible per `responsibles.update_on_transfer` (F7).",
    )
    missed_incoming: CreateAction = Field(
        default_factory=CreateAction,
        description="При пропущенных входящих звонках от нового клиента — created when the call ends; the "
        "responsible is the employee the call was distributed to, or per `responsibles` (F5, F6).",
    )
    outgoing: CreateAction = Field(
        default_factory=CreateAction,
        description="При исходящих звонках на новый номер — created with the caller as creator and "
        "responsible.",
    )


REPEAT_CREATE_LABELS = {
    "nothing": "Не создавать (звонок попадает в карточку клиента)",
    "lead": "Создать лид (BPMSoft)",
    "deal": "Создавать процесс / сделку (Мегаплан, amoCRM)",
}
REPEAT_WHEN_LABELS = {
    "always": "Всегда создавать процесс для имеющегося клиента",
    "if_no_open": "Создавать процесс, если нет открытых",
}


class RepeatAction(BaseModel):
    """«При повторном звонке»: what a call from a client the CRM already knows creates (F12, F13)."""

    model_config = ConfigDict(extra="forbid")

    create: Literal["nothing", "lead", "deal"] = Field(
        default="nothing",
        description="При повторном звонке — `nothing` (the default in every seed: the call only lands on the "
        "client's card), a BPMSoft lead («Создать лид»), or a deal (Megaplan «процесс», amoCRM сделка).",
        json_schema_extra=_labels(REPEAT_CREATE_LABELS),
    )
    when: Literal["always", "if_no_open"] = Field(
        default="always",
        description="Когда создавать — on every repeat call, or only if the client has no open deal/lead "
        "(Megaplan «Создавать процесс, если нет открытых»). Ignored with `nothing`.",
        json_schema_extra=_labels(REPEAT_WHEN_LABELS),
    )
    lead_need_type: CrmRef = Field(
        default=None, description="Тип потребности — the lead's need type id; required with `lead`."
    )
    lead_stage: CrmRef = Field(default=None, description="Этап — the lead's stage id; required with `lead`.")
    deal_program: CrmRef = Field(
        default=None, description="Вид процесса / Воронка — program or pipeline id; required with `deal`."
    )
    deal_status: CrmRef = Field(
        default=None, description="Статус — the deal's starting status id; required with `deal`."
    )

    @model_validator(mode="after")
    def _consistent(self) -> RepeatAction:
        problems = Problems()
        _lead_deal_problems(self, {self.create}, problems)
        problems.raise_if_any()
        return self


class RepeatCallPolicy(BaseModel):
    """Repeat calls, configured separately for answered and missed ones (BPMSoft need type/stage per case)."""

    model_config = ConfigDict(extra="forbid")

    answered: RepeatAction = Field(
        default_factory=RepeatAction,
        description="Для принятых — what an answered repeat call creates.",
    )
    missed: RepeatAction = Field(
        default_factory=RepeatAction,
        description="Для пропущенных — what a missed repeat call creates.",
    )


class FallbackResponsible(BaseModel):
    """A switch plus the CRM user who becomes responsible when it is on."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Включено — the switch itself; off by default.")
    crm_user_id: CrmRef = Field(
        default=None,
        description="Ответственный сотрудник — a CRM user mapped in `employees` (Mango offers only employees "
        "with an extension); required when enabled. Kept when switched off.",
    )

    @model_validator(mode="after")
    def _needs_user(self) -> FallbackResponsible:
        if self.enabled and self.crm_user_id is None:
            raise InvalidSettings([("crm_user_id", "required when enabled is true: choose the responsible")])
        return self


class Responsibles(BaseModel):
    """Who becomes responsible when the call itself does not say (F4–F7)."""

    model_config = ConfigDict(extra="forbid")

    missed_in_ivr: FallbackResponsible = Field(
        default_factory=FallbackResponsible,
        description="Фиксировать пропущенные в IVR (Мегаплан: «Указать ответственного при пропущенных звонках "
        "в IVR») — a call missed in the voice menu before reaching anyone is recorded with this responsible "
        "(and creates the new client per `new_number.missed_incoming`); off → such calls are not recorded. "
        "Not for Omnidesk, which ignores calls that reach no employee (seed 003, 14).",
    )
    missed_in_group: FallbackResponsible = Field(
        default_factory=FallbackResponsible,
        description="Ответственный при пропущенных звонках в группу — a new number's call missed in a group "
        "creates the client with this responsible; off → the employee the call was distributed to.",
    )
    update_on_transfer: bool = Field(
        default=False,
        description="Обновлять ответственного при переводах входящих вызовов — the last employee who handled "
        "a transferred call becomes the new client's responsible instead of the first; off by default, as in "
        "Mango.",
    )
    save_all_calls_user: CrmRef = Field(
        default=None,
        description="Сохранять все звонки — the CRM user that calls of employees missing from `employees` "
        "are bound to (amoCRM's «Сохранять все звонки», F4); empty, the default, drops those calls. Must not "
        "be an employee whose calls are ignored.",
    )


class LineFilter(BaseModel):
    """Process only calls that came in on chosen lines (F17)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=False,
        description="Фильтровать входящие звонки по линиям — when on, incoming calls on other lines are "
        "ignored; off by default (every line).",
    )
    lines: list[Line] = Field(
        default_factory=list,
        max_length=200,
        description="Линии — the lines to keep, as Mango reports them (`74951234567` or a SIP URI); spaces "
        "are removed. At least one when enabled; kept when switched off.",
    )

    @field_validator("lines")
    @classmethod
    def _unique(cls, lines: list[str]) -> list[str]:
        problems = Problems()
        _duplicates(lines, problems, "line")
        problems.raise_if_any()
        return lines

    @model_validator(mode="after")
    def _needs_lines(self) -> LineFilter:
        if self.enabled and not self.lines:
            raise InvalidSettings([("lines", "at least one line is required when enabled is true")])
        return self


class SpeechAnalytics(BaseModel):
    """Speech analytics results copied to the CRM call (F20, F21); needs Mango's recording and analytics."""

    model_config = ConfigDict(extra="forbid")

    topics_enabled: bool = Field(
        default=False,
        description="Сохранять данные Речевой Аналитики — save the names of recognised topics (тематики) "
        "on the call.",
    )
    topics: list[Topic] = Field(
        default_factory=list,
        max_length=500,
        description="Сохранять выбранные тематики — only these topics are saved, by their name in Mango's "
        "speech analytics; at least one when topics are enabled.",
    )
    texts_enabled: bool = Field(
        default=False,
        description="Сохранять тексты Речевой Аналитики — save the speaker-labelled transcript, asked for "
        "24 h after the recording was made, only for recordings delivered to the CRM (needs `recordings`).",
    )

    @field_validator("topics")
    @classmethod
    def _unique(cls, topics: list[str]) -> list[str]:
        problems = Problems()
        _duplicates(topics, problems, "topic")
        problems.raise_if_any()
        return topics

    @model_validator(mode="after")
    def _needs_topics(self) -> SpeechAnalytics:
        if self.topics_enabled and not self.topics:
            raise InvalidSettings([("topics", "choose at least one topic when topics_enabled is true")])
        return self


ConditionSource = Literal["call", "vpbx", "crm"]
ConditionOperator = Literal[
    "equals", "not_equals", "contains", "not_contains", "empty", "not_empty", "greater", "less", "in_list"
]
SOURCE_LABELS = {
    "call": "Данные о текущем звонке",
    "vpbx": "Данные Виртуальной АТС (линия, выбор в IVR, DTMF, группы)",
    "crm": "Данные CRM о клиенте, найденном по номеру (любые поля, доп. поля, теги, открытые сделки)",
}
OPERATOR_LABELS = {
    "equals": "равно",
    "not_equals": "не равно",
    "contains": "содержит",
    "not_contains": "не содержит",
    "empty": "пусто",
    "not_empty": "не пусто",
    "greater": "больше",
    "less": "меньше",
    "in_list": "в списке",
}
VALUELESS_OPERATORS = frozenset({"empty", "not_empty"})


class RoutingCondition(BaseModel):
    """One condition of a smart rule; all conditions of a rule must hold."""

    model_config = ConfigDict(extra="forbid")

    source: ConditionSource = Field(
        description="Откуда значение — the current call, the VPBX or the CRM client found by the caller's "
        "number.",
        json_schema_extra=_labels(SOURCE_LABELS),
    )
    field: str = Field(
        min_length=1,
        max_length=128,
        description="Поле — the value to compare (for `crm`, any field of the client, custom fields and tags "
        "included).",
    )
    operator: ConditionOperator = Field(
        description="Операция сравнения — how the value is compared.",
        json_schema_extra=_labels(OPERATOR_LABELS),
    )
    value: Annotated[str | None, Field(max_length=1024), BeforeValidator(_text)] = Field(
        default=None,
        description="Значение — what to compare with: required except for `empty`/`not_empty` (which take "
        "none); a number for `greater`/`less`; comma-separated items for `in_list`.",
    )

    @field_validator("field")
    @classmethod
    def _trim(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("field must not be blank")
        return value.strip()

    @model_validator(mode="after")
    def _value_fits(self) -> RoutingCondition:
        if self.operator in VALUELESS_OPERATORS:
            if self.value is not None:
                raise InvalidSettings([("value", f"must be empty: {self.operator!r} takes no value")])
        elif self.value is None:
            raise InvalidSettings([("value", f"required for operator {self.operator!r}")])
        elif self.operator in ("greater", "less") and not NUMBER.fullmatch(self.value):
            raise InvalidSettings([("value", f"must be a number for operator {self.operator!r}")])
        elif self.operator == "in_list" and not self.values():
            raise InvalidSettings([("value", "must list at least one item, separated by commas")])
        return self

    def values(self) -> list[str]:
        """The items of an `in_list` value (or the single value), trimmed."""
        if self.value is None:
            return []
        if self.operator != "in_list":
            return [self.value]
        return [item.strip() for item in self.value.split(",") if item.strip()]


ROUTING_ACTION_LABELS = {
    "number": "Переадресовать на номер",
    "responsible": "Переадресовать на ответственного",
    "group": "Переадресовать на группу",
    "extension": "Переадресовать на сотрудника (внутренний номер)",
}


class RoutingAction(BaseModel):
    """Where a matching call goes; Mango's `commands/route` takes an extension, a group number or any number."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["number", "responsible", "group", "extension"] = Field(
        description="Действие — where to route the call.",
        json_schema_extra=_labels(ROUTING_ACTION_LABELS),
    )
    target: Annotated[str | None, Field(max_length=128), BeforeValidator(_no_spaces_or_none)] = Field(
        default=None,
        description="Куда — the phone number or SIP URI (`number`), the group's internal number (`group`) or "
        "the extension (`extension`); spaces are removed. `responsible` takes none: the client's responsible "
        "is found by the caller's number.",
    )
    fallback: Annotated[str | None, Field(max_length=128), BeforeValidator(_no_spaces_or_none)] = Field(
        default=None,
        description="Если занят — where to route instead when the target is busy or unavailable: an "
        "extension, a group number or a phone number; empty → Mango's own scheme continues.",
    )

    @model_validator(mode="after")
    def _target_fits(self) -> RoutingAction:
        problems = Problems()
        if self.kind == "responsible":
            if self.target is not None:
                problems.add(
                    "target", "must be empty for 'responsible': the client's responsible is the target"
                )
        elif self.target is None:
            problems.add("target", f"required for {self.kind!r}")
        elif self.kind in ("extension", "group") and not DIGITS.fullmatch(self.target):
            problems.add("target", f"must be digits for {self.kind!r} (an internal number)")
        elif self.kind == "number" and not DIALABLE.fullmatch(self.target):
            problems.add("target", "must be a phone number or a SIP URI")
        if self.fallback is not None and not DIALABLE.fullmatch(self.fallback):
            problems.add("fallback", "must be an extension, a group number, a phone number or a SIP URI")
        problems.raise_if_any()
        return self


class RoutingRule(BaseModel):
    """«Умное правило»: the first enabled rule whose conditions all hold routes the call (F24)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, BeforeValidator(_trimmed)] = Field(
        min_length=1,
        max_length=100,
        description="Название правила — unique; recorded on the call with every routing decision.",
    )
    enabled: bool = Field(default=True, description="Включено — a disabled rule is skipped.")
    conditions: list[RoutingCondition] = Field(
        default_factory=list,
        max_length=MAX_ROUTING_CONDITIONS,
        description="Условия — up to 5, all must hold; a rule without conditions matches every call, so rules "
        "below it never run.",
    )
    action: RoutingAction = Field(description="Действие — where a matching call is routed.")


class Routing(BaseModel):
    """Routing while the caller hears the greeting: smart rules, then the responsible manager (F24–F26)."""

    model_config = ConfigDict(extra="forbid")

    lines: list[Line] = Field(
        default_factory=list,
        max_length=200,
        description="Линии для распределения — lines on which smart rules and routing to the responsible "
        "apply; empty, the default, means every line. Each line's scheme must play a greeting of 5–8 s with "
        "«ожидать окончания» = да, or there is no time to route.",
    )
    rules: list[RoutingRule] = Field(
        default_factory=list,
        max_length=MAX_ROUTING_RULES,
        description="Умные правила распределения входящих вызовов — up to 20, checked top-down; none matches "
        "→ Mango's own scheme handles the call.",
    )
    route_to_responsible: bool = Field(
        default=False,
        description="Распределять вызовы от клиентов по ответственным сотрудникам — route a known client's "
        "call to its responsible (first client found, first responsible not blocked) when no smart rule "
        "matched.",
    )
    contact_centre_statuses: bool = Field(
        default=False,
        description="Использовать статусы Контакт-центра — route only to employees whose Mango contact-centre "
        "status is «На линии».",
    )

    @field_validator("lines")
    @classmethod
    def _unique_lines(cls, lines: list[str]) -> list[str]:
        problems = Problems()
        _duplicates(lines, problems, "line")
        problems.raise_if_any()
        return lines

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[RoutingRule]) -> list[RoutingRule]:
        problems = Problems()
        seen: dict[str, int] = {}
        for index, rule in enumerate(rules):
            key = rule.name.casefold()
            if key in seen:
                problems.add(
                    f"[{index}].name", f"rule name {rule.name!r} is used twice (first at [{seen[key]}])"
                )
            else:
                seen[key] = index
        problems.raise_if_any()
        return rules


class RoleAction(StrEnum):
    """«Действие» of a role rule; the `open_*` ones are instructions for the agent's screen."""

    LOAD_FROM_CONTEXT = "load_from_context"
    LOAD_LINKED_TO_ENTITY2 = "load_linked_to_entity2"
    LOAD_LINKED_TO_PARTICIPANTS = "load_linked_to_participants"
    LOAD_LINKED_TO_PARTICIPANTS_RESPONSIBLE = "load_linked_to_participants_responsible"
    SET_VARIABLE = "set_variable"
    ASSIGN_RESPONSIBLE = "assign_responsible"
    DO_NOTHING = "do_nothing"
    CREATE_ENTITY = "create_entity"
    BIND_TO_CALL = "bind_to_call"
    BIND_CARD_TO_CALL_AND_CALL_TO_ALL = "bind_card_to_call_and_call_to_all"
    BIND_ENTITY_TO_ENTITY2 = "bind_entity_to_entity2"
    CHECK_VARIABLE = "check_variable"
    GO_TO_ROW = "go_to_row"
    OPEN_ENTITY = "open_entity"
    OPEN_ACCOUNT_CARD = "open_account_card"
    OPEN_LAST_CREATED = "open_last_created"
    OPEN_AND_CREATE = "open_and_create"


ROLE_ACTION_LABELS = {
    "load_from_context": "Загрузить сущности из контекста",
    "load_linked_to_entity2": "Загрузить сущности, привязанные к сущности 2",
    "load_linked_to_participants": "Загрузить сущности, связанные с участниками звонка",
    "load_linked_to_participants_responsible": "Загрузить сущности, связанные с участниками звонка с учетом "
    "ответственного",
    "set_variable": "Задать переменную",
    "assign_responsible": "Назначить ответственным",
    "do_nothing": "Ничего не делать",
    "create_entity": "Создать новую сущность",
    "bind_to_call": "Привязать к звонку",
    "bind_card_to_call_and_call_to_all": "Привязать данные карточки к звонку и звонок ко всем",
    "bind_entity_to_entity2": "Привязать первую сущность ко второй",
    "check_variable": "Проверить переменную",
    "go_to_row": "Перейти на другую строку действий",
    "open_entity": "Открыть сущность",
    "open_account_card": "Открыть карточку контрагента",
    "open_last_created": "Открыть последнюю созданную сущность",
    "open_and_create": "Открыть и создать",
}
UI_ROLE_ACTIONS = frozenset(
    {
        RoleAction.OPEN_ENTITY,
        RoleAction.OPEN_ACCOUNT_CARD,
        RoleAction.OPEN_LAST_CREATED,
        RoleAction.OPEN_AND_CREATE,
    }
)
"""Actions a backend cannot perform: recorded on the call as instructions for the agent's screen."""

NEEDS_ENTITY = frozenset(
    {
        RoleAction.LOAD_LINKED_TO_ENTITY2,
        RoleAction.LOAD_LINKED_TO_PARTICIPANTS,
        RoleAction.LOAD_LINKED_TO_PARTICIPANTS_RESPONSIBLE,
        RoleAction.ASSIGN_RESPONSIBLE,
        RoleAction.CREATE_ENTITY,
        RoleAction.BIND_TO_CALL,
        RoleAction.BIND_ENTITY_TO_ENTITY2,
        RoleAction.OPEN_ENTITY,
    }
)
NEEDS_ENTITY2 = frozenset({RoleAction.LOAD_LINKED_TO_ENTITY2, RoleAction.BIND_ENTITY_TO_ENTITY2})
DIRECTION_LABELS = {"any": "Любое (пусто)", "incoming": "Входящий", "outgoing": "Исходящий"}


ROLE_CONDITIONS = frozenset({"нет найденных сущностей", "найдена как минимум одна сущность"})
"""«Условие» values BPMSoft offers, normalised (see `normalise_condition`)."""


def normalise_condition(text: str) -> str:
    """How a condition typed in the table is compared: case, ё/е, spaces and a final dot ignored."""
    return " ".join(text.replace("ё", "е").replace("Ё", "Е").split()).casefold().rstrip(".…")


@dataclass(frozen=True)
class RoleValue:
    """A parsed «Значение»: a row to go to, a variable assignment, or a variable check with its row."""

    row: int | None = None
    variable: str | None = None
    expected: str | None = None


def parse_role_value(text: str) -> RoleValue:
    """`N` → go to row N; `"Var=Value"` → set; `"Var=Value;N"` → check and go to N. Quotes are optional."""
    body = text.strip()
    if DIGITS.fullmatch(body):
        return RoleValue(row=int(body))
    if len(body) >= 2 and body[0] == body[-1] == '"':
        body = body[1:-1].strip()
    name, sign, rest = body.partition("=")
    name = name.strip().strip('"').strip()
    if not sign or not name or '"' in name or ";" in name:
        raise ValueError('must be a row number, "Var=Value" or "Var=Value;N"')
    expected, semicolon, row = rest.partition(";")
    expected = expected.strip().strip('"').strip()
    if not expected or '"' in expected or "=" in expected:
        raise ValueError(f'the value of variable {name!r} is missing or malformed: use "Var=Value"')
    for placeholder in PLACEHOLDER.findall(expected):
        if placeholder.lower() not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder %{placeholder}%: use %number% or %номер%")
    if not semicolon:
        return RoleValue(variable=name, expected=expected)
    row = row.strip().strip('"').strip()
    if not DIGITS.fullmatch(row):
        raise ValueError(f'the row after ";" must be a number, not {row!r}')
    return RoleValue(row=int(row), variable=name, expected=expected)


def _value_shape_problem(action: RoleAction, parsed: RoleValue | None) -> str | None:
    """Go-to and variable actions are meaningless without a «Значение» of their own form."""
    if action == RoleAction.GO_TO_ROW and (parsed is None or parsed.variable is not None):
        return "go_to_row needs the row number to go to"
    if action == RoleAction.SET_VARIABLE and (
        parsed is None or parsed.variable is None or parsed.row is not None
    ):
        return 'set_variable needs "Var=Value"'
    if action == RoleAction.CHECK_VARIABLE and (
        parsed is None or parsed.variable is None or parsed.row is None
    ):
        return 'check_variable needs "Var=Value;N"'
    return None


class RoleRule(BaseModel):
    """One row of «Настройка действий в зависимости от роли» (BPMSoft, F31); row 1 is the master switch."""

    model_config = ConfigDict(extra="forbid")

    order: int = Field(
        ge=1,
        le=MAX_ROLE_ORDER,
        description="Порядок — the row number: unique; rows run in ascending order and numbers may leave gaps "
        "(Mango's own test table uses 1–4, 10, 11, 12…). Row 1 is the master switch.",
    )
    deactivated: bool = Field(default=False, description="Деактивирована — a deactivated row is skipped.")
    role: CrmRef = Field(
        default=None,
        description="Функциональная роль — applies only when the employee handling the call has this BPMSoft "
        "functional role; empty → any.",
    )
    direction: Literal["any", "incoming", "outgoing"] = Field(
        default="any",
        description="Направление звонка — applies only to calls in this direction.",
        json_schema_extra=_labels(DIRECTION_LABELS),
    )
    condition: CrmRef = Field(
        default=None,
        description="Условие — one of BPMSoft's fixed conditions (e.g. «Нет найденных сущностей», «Найдена "
        "как минимум одна сущность»); empty → always.",
    )
    entity: CrmRef = Field(
        default=None,
        description="Сущность — the entity the action works on (e.g. «Контакт», «Обращение»); required for "
        "loading, creating, binding, assigning and opening.",
    )
    entity2: CrmRef = Field(
        default=None,
        description="Сущность 2 — the related entity; required for «Загрузить сущности, привязанные к сущности "
        "2» and «Привязать первую сущность ко второй».",
    )
    action: RoleAction = Field(
        default=RoleAction.DO_NOTHING,
        description="Действие — what the row does when it applies.",
        json_schema_extra=_labels(ROLE_ACTION_LABELS),
    )
    value: Annotated[str | None, Field(max_length=512), BeforeValidator(_text)] = Field(
        default=None,
        description='Значение — a row number (`go_to_row`, or any action: go there next), `"Var=Value"` '
        '(`set_variable`) or `"Var=Value;N"` (`check_variable`: go to row N if the variable holds); '
        "`%number%` / `%номер%` stand for the client's number.",
    )
    final: bool = Field(
        default=False,
        description="Конечное действие при срабатывании — «Да» stops the table after this row runs; «Нет» "
        "goes on to the next row (or the row in `value`). On row 1, «Да» switches the whole table off.",
    )

    @model_validator(mode="after")
    def _row_fits(self) -> RoleRule:
        problems = Problems()
        parsed: RoleValue | None = None
        if self.value is not None:
            try:
                parsed = parse_role_value(self.value)
            except ValueError as problem:
                problems.add("value", str(problem))
        if not problems and (shape := _value_shape_problem(self.action, parsed)):
            problems.add("value", shape)
        if self.condition is not None and normalise_condition(self.condition) not in ROLE_CONDITIONS:
            problems.add(
                "condition",
                f"unknown condition {self.condition!r}: BPMSoft offers «Нет найденных сущностей» and "
                "«Найдена как минимум одна сущность» (or leave it empty for always)",
            )
        if self.action in NEEDS_ENTITY and self.entity is None:
            problems.add("entity", f"required for action {self.action.value!r}")
        if self.action in NEEDS_ENTITY2 and self.entity2 is None:
            problems.add("entity2", f"required for action {self.action.value!r}")
        if self.order == 1:
            extras = [
                name
                for name in ("role", "condition", "entity", "entity2", "value")
                if getattr(self, name) is not None
            ]
            if self.direction != "any":
                extras.append("direction")
            if self.action != RoleAction.DO_NOTHING:
                extras.append("action")
            if extras:
                problems.add(
                    extras[0],
                    "row 1 is the master switch and carries only `final`: leave "
                    + ", ".join(extras)
                    + " empty (action do_nothing)",
                )
            if self.deactivated:
                problems.add(
                    "deactivated", "row 1 cannot be deactivated: set final to true to switch the table off"
                )
        problems.raise_if_any()
        return self

    def parsed_value(self) -> RoleValue | None:
        return None if self.value is None else parse_role_value(self.value)


def _check_timezone(value: str) -> str:
    zone = value.strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{zone!r} is not an IANA time zone such as Europe/Moscow") from None
    return zone


class _SettingsFields(BaseModel):
    """The settings catalogue, shared by the stored document and the PUT body."""

    model_config = ConfigDict(extra="forbid")

    mango: MangoConnection = Field(description="API коннектор — the VPBX this tenant is.")
    crm: CrmConnection | None = Field(
        default=None,
        description="Подключение к CRM — empty until the CRM is connected: calls are then only journaled.",
    )
    timezone: Annotated[str, BeforeValidator(_trimmed)] = Field(
        default=DEFAULT_TIMEZONE,
        description="Часовой пояс — IANA zone for local times the CRM shows, such as «Новый (16:30 05.03.2018, "
        "входящий вызов)»; Europe/Moscow by default, as Mango's integrations assume. Reconciliation always "
        "runs on Moscow days.",
    )
    employees: list[EmployeeMapping] = Field(
        default_factory=list,
        description="Сотрудники — the mapping of extensions to CRM users; calls of unmapped employees are "
        "not saved unless `responsibles.save_all_calls_user` is set.",
    )
    durations: Durations = Field(
        default_factory=Durations,
        description="Длительность — thresholds for answered and reached calls.",
    )
    new_number: NewNumberPolicy = Field(
        default_factory=NewNumberPolicy,
        description="От нового клиента — what calls from unknown numbers create.",
    )
    repeat_call: RepeatCallPolicy = Field(
        default_factory=RepeatCallPolicy,
        description="При повторном звонке — what calls from known clients create.",
    )
    responsibles: Responsibles = Field(
        default_factory=Responsibles,
        description="Ответственные — who is responsible for missed, transferred and unmapped calls.",
    )
    source_line: bool = Field(
        default=False,
        description="Указывать источник при входящих звонках — store the dialled line in «Номер линии MANGO "
        "OFFICE» of clients created from incoming calls (F16); off by default.",
    )
    line_filter: LineFilter = Field(
        default_factory=LineFilter,
        description="Фильтровать входящие звонки по линиям — process only calls on the chosen lines (F17).",
    )
    disable_leads: bool = Field(
        default=False,
        description="Отключить работу с лидами — never create leads, whatever the other settings ask; "
        "everything else keeps working (F18).",
    )
    recordings: bool = Field(
        default=True,
        description="Предоставлять возможность генерации и использования ссылок — give each CRM call a "
        "lasting link to its recordings, every transferred leg's included (F19); on by default, as in Mango.",
    )
    quality_score: bool = Field(
        default=False,
        description="Загружать постзвонковую оценку — import the client's post-call score into «Оценка "
        "качества» (needs Mango's «Контроль качества», F22).",
    )
    call_tracking: bool = Field(
        default=False,
        description="Записывать данные Коллтрекинга (Мегаплан: «Интеграция с Динамическим коллтрекингом») — "
        "save the visitor's call-tracking data on clients created from a dynamic number (F23); switching it "
        "off keeps the data already saved.",
    )
    yellow_pages: bool = Field(
        default=False,
        description="Использовать желтые страницы — enrich new contacts with legal-entity data found by phone "
        "in open directories (F44). No directory provider is configured in this bridge yet, so turning it on "
        "is refused rather than silently ignored; off by default.",
    )
    speech_analytics: SpeechAnalytics = Field(
        default_factory=SpeechAnalytics,
        description="Речевая аналитика — topics and transcripts saved on the call.",
    )
    missing_call_sync: bool = Field(
        default=False,
        description="Загружать отсутствующие в CRM звонки — every day at 01:00 MSK restore the previous "
        "day's calls missing from the CRM (F30).",
    )
    manual_entity_binding: bool = Field(
        default=False,
        description="Ручная привязка звонка к сущностям — when several entities share the caller's number, "
        "offer them all for the user to bind the call to; off → the first one found (F14).",
    )
    outgoing_auto_answer: bool = Field(
        default=False,
        description="Исходящие вызовы. Автоматический прием — the switch for click-to-call from the CRM "
        "(F27): seed 000 enables «Исходящий звонок по клику» with this flag. On: the CRM may start calls and "
        "the employee's leg is answered automatically (Call-Info/answer-after 0), so the client is dialled at "
        "once; off (the default): click-to-call is refused with `click_to_call_off`. Transfers and hang-ups "
        "are not affected.",
    )
    routing: Routing = Field(
        default_factory=Routing,
        description="Распределение входящих вызовов — smart rules and routing to the responsible.",
    )
    role_rules: list[RoleRule] = Field(
        default_factory=list,
        max_length=MAX_ROLE_RULES,
        description="Настройка действий в зависимости от роли — BPMSoft's rule table, at most 40 rows; empty "
        "→ no rules.",
    )
    save_action_history: bool = Field(
        default=False,
        description="Сохранять историю действий по звонкам — show the role rules applied to a call in its "
        "«Действия звонка» (the bridge keeps the history either way); off by default, as in BPMSoft.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_timezone(value)

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Self:
        problems = Problems()
        stored = bool(info.context and info.context.get(STORED))
        if self.yellow_pages and not stored and not YELLOW_PAGES_PROVIDERS:
            problems.add("yellow_pages", YELLOW_PAGES_REFUSED)
        self._check_employees(problems)
        self._check_responsibles(problems)
        self._check_crm_kind(problems)
        self._check_role_table(problems)
        if self.speech_analytics.texts_enabled and not self.recordings:
            problems.add(
                "speech_analytics.texts_enabled",
                "needs recordings to be true: transcripts are fetched only for recordings delivered to the CRM",
            )
        problems.raise_if_any()
        return self

    def _check_employees(self, problems: Problems) -> None:
        extensions: dict[str, int] = {}
        users: dict[str, int] = {}
        for index, employee in enumerate(self.employees):
            if employee.extension in extensions:
                problems.add(
                    f"employees[{index}].extension",
                    f"extension {employee.extension} is mapped twice (first at employees[{extensions[employee.extension]}])",
                )
            else:
                extensions[employee.extension] = index
            if employee.ignore_calls:
                continue
            if employee.crm_user_id in users:
                problems.add(
                    f"employees[{index}].crm_user_id",
                    f"CRM user {employee.crm_user_id} is mapped to two extensions (first at "
                    f"employees[{users[employee.crm_user_id]}]): click-to-call could not choose",
                )
            else:
                users[employee.crm_user_id] = index

    def _check_responsibles(self, problems: Problems) -> None:
        active = {e.crm_user_id for e in self.employees if not e.ignore_calls}
        ignored = {e.crm_user_id for e in self.employees if e.ignore_calls} - active
        for name in ("missed_in_ivr", "missed_in_group"):
            fallback: FallbackResponsible = getattr(self.responsibles, name)
            if fallback.enabled and fallback.crm_user_id not in active:
                problems.add(
                    f"responsibles.{name}.crm_user_id",
                    f"CRM user {fallback.crm_user_id} is not an employee with an extension: map them in "
                    "employees (calls not ignored), as Mango offers only those",
                )
        user = self.responsibles.save_all_calls_user
        if user is not None and user in ignored:
            problems.add(
                "responsibles.save_all_calls_user",
                f"CRM user {user} is an employee whose calls are ignored (employees[].ignore_calls)",
            )

    def _check_crm_kind(self, problems: Problems) -> None:
        if self.crm is None:
            return
        kind = self.crm.kind
        allowed = CREATABLE[kind]
        label = CRM_KIND_LABELS[kind.value]
        hint = (
            " (amoCRM's «сделки» are 'deal', its incoming leads 'unsorted')" if kind == CrmKind.AMOCRM else ""
        )
        for case in ("answered_incoming", "missed_incoming", "outgoing"):
            action: CreateAction = getattr(self.new_number, case)
            for index, entity in enumerate(action.create):
                if entity not in allowed:
                    problems.add(
                        f"new_number.{case}.create[{index}]",
                        f"{entity!r} cannot be created in {label} (crm.kind {kind.value!r}); choose from "
                        f"{', '.join(sorted(allowed))}{hint}",
                    )
        for case in ("answered", "missed"):
            repeat: RepeatAction = getattr(self.repeat_call, case)
            if repeat.create != "nothing" and repeat.create not in allowed:
                problems.add(
                    f"repeat_call.{case}.create",
                    f"{repeat.create!r} cannot be created in {label} (crm.kind {kind.value!r}){hint}",
                )
        if self.role_rules and kind != CrmKind.BPMSOFT:
            problems.add("role_rules", f"role rules are a BPMSoft feature; crm.kind is {kind.value!r}")
        if kind == CrmKind.OMNIDESK and self.responsibles.missed_in_ivr.enabled:
            problems.add(
                "responsibles.missed_in_ivr.enabled",
                "Omnidesk opens cases only for calls that reach an employee and ignores calls that end in "
                "the voice menu (seed 003, 14): switch «Фиксировать пропущенные в IVR» off",
            )

    def _check_role_table(self, problems: Problems) -> None:
        if not self.role_rules:
            return
        rows: dict[int, int] = {}
        for index, rule in enumerate(self.role_rules):
            if rule.order in rows:
                problems.add(
                    f"role_rules[{index}].order",
                    f"row {rule.order} is used twice (first at role_rules[{rows[rule.order]}])",
                )
            else:
                rows[rule.order] = index
        if 1 not in rows:
            problems.add("role_rules", "row 1 (the master switch, final true = table off) is missing")
        for index, rule in enumerate(self.role_rules):
            parsed = rule.parsed_value()
            if parsed is None or parsed.row is None:
                continue
            if parsed.row not in rows:
                problems.add(
                    f"role_rules[{index}].value", f"points at row {parsed.row}, which does not exist"
                )
            elif parsed.row == rule.order:
                problems.add(f"role_rules[{index}].value", f"row {rule.order} jumps to itself")
            elif parsed.row == 1:
                problems.add(f"role_rules[{index}].value", "cannot jump to row 1, the master switch")

    @property
    def role_table_enabled(self) -> bool:
        """The table runs only when row 1 exists with final = no (BPMSoft's master switch)."""
        first = next((rule for rule in self.role_rules if rule.order == 1), None)
        return first is not None and not first.final

    def ordered_role_rules(self) -> list[RoleRule]:
        return sorted(self.role_rules, key=lambda rule: rule.order)


class TenantSettings(_SettingsFields):
    """The settings document of one tenant, as stored and as the policy reads it."""

    def employee(self, extension: str | None) -> EmployeeMapping | None:
        if not extension:
            return None
        return next((e for e in self.employees if e.extension == extension), None)


class TenantUpdate(_SettingsFields):
    """What an operator PUTs: the settings plus, optionally, a new salt («Ключ для создания подписи»)."""

    mango_api_salt: Annotated[
        str | None,
        Field(
            min_length=8,
            max_length=128,
            description="Ключ для создания подписи — `vpbx_api_salt`; write-only: stored in Secrets Manager, "
            "never returned. Required when the tenant is created, omitted to keep the current one.",
            json_schema_extra={"writeOnly": True},
        ),
    ] = None

    def settings(self) -> TenantSettings:
        return TenantSettings(**{name: getattr(self, name) for name in TenantSettings.model_fields})
