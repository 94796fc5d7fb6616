"""What the bridge stores in BPMSoft beyond the base schemas, and where each piece goes on one instance.

Base BPMSoft (Creatio's `Call`, `Contact`, `Account`, `Lead`) has no column for a call's status as
MANGO OFFICE words it, its recording links, speech analytics, quality score or the ДКТ call-tracking
fields. Each of those is a *field* here: a settings key (`quality_score`), what the operator sees
(«Оценка качества», the captions seed 000 shows on screen) and the column our own package adds
(`UsrMcbQualityScore`, see `integrations/bpmsoft-package/`). On one instance a field is found

1. by the tenant's setting `crm.bpmsoft.columns.<key>` — a column code (`UsrQualityScore`) or its
   caption («Оценка качества»), read from `SysSchema` / `SysEntitySchemaColumn`;
2. with `storage = package`: by our package's code, else by the seed's caption (a package with
   another prefix — the vendor's, or the customer's own columns — is found by what the user sees);
3. with `storage = base`: by the seed's caption only (our package's codes are never used).

A field no column holds goes into the call's note (`Comment`, «Примечание»), when the field can be
read from a note, or is off; `ColumnMap.report()` says which, in plain Russian, for the connection check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from mango_bridge.crm.bpmsoft.metadata import Schema

PREFIX = "UsrMcb"
PACKAGE = "UsrMcbMangoBridge"
CLIENTS = ("Contact", "Account", "Lead")
Storage = Literal["package", "base"]


@dataclass(frozen=True)
class Field:
    key: str
    column: str
    """Our package's column (lookups without the OData `Id`)."""
    caption: str
    """What the user sees (seed 000), or our package's caption where the seed shows none."""
    entities: tuple[str, ...]
    label: str
    """The feature, as the connection check names it."""
    lookup: str | None = None
    noted: bool = True
    """Without a column, the value still goes into the call's note."""
    seen_in_seed: bool = True

    def code(self) -> str:
        return f"{self.column}Id" if self.lookup else self.column


_ALL = ("Call", *CLIENTS)
_DCT = (
    ("client_id", "ClientId", "ДКТ: client_id"),
    ("ga_client_id", "ClientCid", "ДКТ: client_cid"),
    ("ya_client_id", "YaClientId", "ДКТ: ya_client_id"),
    ("city", "City", "ДКТ: Город"),
    ("utm_source", "Source", "ДКТ: Источник"),
    ("utm_medium", "Medium", "ДКТ: Канал"),
    ("utm_campaign", "Campaign", "ДКТ: Кампания"),
    ("utm_content", "Content", "ДКТ: Содержимое"),
    ("utm_term", "Term", "ДКТ: Что искал"),
    ("time_on_site", "TimeOnSite", "ДКТ: Время на сайте"),
    ("call_page", "CallPage", "ДКТ: Страница звонка"),
    ("context_id", "Context", "ДКТ: Контекст вызова"),
    ("custom", "Custom", "ДКТ: Custom"),
    ("widget_name", "AppName", "ДКТ: Имя приложения"),
    ("request_type", "RequestType", "ДКТ: Тип заявки"),
    ("roistat_id", "Roistat", "roistat"),
    ("number_type", "CallType", "ДКТ: Тип звонка"),
    ("device", "Device", "ДКТ: Device"),
    ("new_visitor", "NewUser", "ДКТ: Новый пользователь"),
)
"""The ДКТ tab, in the seed's order: visitor field, our column's suffix, the seed's caption."""

DCT_FIELDS: dict[str, Field] = {
    visitor: Field(f"dct_{visitor}", f"{PREFIX}Dct{suffix}", caption, _ALL, "ДКТ (коллтрекинг)")
    for visitor, suffix, caption in _DCT
}
"""By the visitor's field name (`calls.visitor.Visitor`)."""

FIELDS: dict[str, Field] = {
    f.key: f
    for f in (
        Field(
            "call_status", f"{PREFIX}CallStatus", "Статус звонка", ("Call",), "Статус звонка",
            lookup=f"{PREFIX}CallStatus",
        ),
        Field(
            "entry_id", f"{PREFIX}EntryId", "ID звонка MANGO OFFICE", ("Call",),
            "Связь звонков одного разговора (правила по ролям)", seen_in_seed=False,
        ),
        Field("line", f"{PREFIX}Line", "Название линии", _ALL, "Название линии"),
        Field("record_links", f"{PREFIX}RecordLinks", "Запись разговора", ("Call",), "Записи разговоров"),
        Field("topics", f"{PREFIX}Topics", "Теги звонка", ("Call",), "Речевая аналитика: тематики", noted=False),
        Field(
            "transcript", f"{PREFIX}Transcript", "Текст разговора", ("Call",), "Речевая аналитика: текст",
            noted=False, seen_in_seed=False,
        ),
        Field("quality_score", f"{PREFIX}QualityScore", "Оценка качества", ("Call",), "Оценка качества", noted=False),
        *DCT_FIELDS.values(),
    )
}  # fmt: skip

NOTE = Field("note", "Comment", "Примечание", ("Call",), "Примечание звонка", noted=False)
"""Where what has no column is written on a bare instance: the call's text column (base `Call.Comment`)."""
CALL_STATUS_LOOKUP = f"{PREFIX}CallStatus"
CALL_ACTION = f"{PREFIX}CallAction"
CALL_ENTITY = f"{PREFIX}CallEntity"
"""Our package's objects: «Действия звонка» (the role rules' history) and the call's extra records."""


@dataclass(frozen=True)
class Placement:
    field: Field
    entity: str
    column: str | None
    how: str
    """«по коду пакета», «по подписи «…»», «по настройке», or why it is not found."""


class ColumnMap:
    """Where each field goes on one instance (resolved once per adapter; captions read lazily)."""

    def __init__(
        self,
        schema: Schema,
        captions: Callable[[str], Mapping[str, str]],
        *,
        storage: Storage = "package",
        columns: Mapping[str, str] | None = None,
    ) -> None:
        self.schema = schema
        self.storage = storage
        self.wanted = dict(columns or {})
        self._captions = captions
        self._found: dict[tuple[str, str], Placement] = {}
        self._lock = threading.Lock()

    def column(self, entity: str, key: str) -> str | None:
        return self.place(entity, key).column

    def place(self, entity: str, key: str) -> Placement:
        with self._lock:
            known = self._found.get((entity, key))
        if known is None:
            known = self._resolve(entity, NOTE if key == "note" else FIELDS[key])
            with self._lock:
                self._found[(entity, key)] = known
        return known

    def lookup_of(self, entity: str, key: str) -> str | None:
        """The lookup object a lookup column points at (`UsrMcbCallStatus`, or another prefix's)."""
        column = self.column(entity, key)
        return self.schema.target(entity, column) if column else None

    def _resolve(self, entity: str, field: Field) -> Placement:
        if not self.schema.has(entity):
            return Placement(field, entity, None, f"в BPMSoft нет объекта {entity}")
        wanted = self.wanted.get(field.key, "").strip()
        if wanted:
            found = self._by_code(entity, wanted) or self._by_caption(entity, wanted)
            if found:
                return Placement(field, entity, found, f"по настройке «{wanted}»")
            return Placement(field, entity, None, f"колонки «{wanted}» из настроек нет в {entity}")
        if field is NOTE or self.storage == "package":
            found = self._by_code(entity, field.code())
            if found:
                return Placement(
                    field, entity, found, "по коду пакета" if field is not NOTE else "базовая колонка"
                )
        found = self._by_caption(entity, field.caption)
        if found:
            return Placement(field, entity, found, f"по подписи «{field.caption}»")
        if self.storage == "base":
            return Placement(field, entity, None, "колонка не назначена")
        return Placement(field, entity, None, f"нет колонки {field.code()} (пакет {PACKAGE} не установлен)")

    def _by_code(self, entity: str, code: str) -> str | None:
        for candidate in (code, f"{code}Id"):
            if self.schema.has(entity, candidate):
                return candidate
        return None

    def _by_caption(self, entity: str, caption: str) -> str | None:
        wanted = caption.strip().casefold()
        for column, said in self._captions(entity).items():
            if said.strip().casefold() == wanted:
                return self._by_code(entity, column)
        return None

    def unknown_keys(self) -> list[str]:
        return [k for k in self.wanted if k not in FIELDS and k != "note"]
