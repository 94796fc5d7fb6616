"""What the BPMSoft sandbox's instance holds: its entities, their columns and captions, and the lookups
it ships with.

The base columns follow Creatio's base schemas (`Call_Base`, `Lead_Lead`, contact communications) that
BPMSoft inherits. Our own package (`integrations/bpmsoft-package/schemas.json`, prefix `UsrMcb`) is
installed by default: its columns on Call / Contact / Account / Lead, the call-status lookup, the
«Действия звонка» object — built from that file, so the sandbox holds exactly what the package
declares. `prefix` installs the same columns under another prefix (a vendor's package, or columns an
administrator made by hand), found by their captions; without the package the instance is bare.
Captions are served as BPMSoft serves them: `SysSchema`, `SysEntitySchemaColumn` and the view
`VwSysEntitySchemaColumn` (lookups named without `Id`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

NAMESPACE = "BPMSoft.Configuration.OData"
PACKAGE_FILE = Path(__file__).resolve().parents[3] / "integrations" / "bpmsoft-package" / "schemas.json"
OUR_PREFIX = "UsrMcb"

GUID, TEXT, INT, BOOL, DATE, DECIMAL = (
    "Edm.Guid",
    "Edm.String",
    "Edm.Int32",
    "Edm.Boolean",
    "Edm.DateTimeOffset",
    "Edm.Decimal",
)
PACKAGE_TYPES = {
    "ShortText": TEXT,
    "MediumText": TEXT,
    "LongText": TEXT,
    "MaxSizeText": TEXT,
    "Integer": INT,
    "Boolean": BOOL,
    "Guid": GUID,
}


def sandbox_id(name: str) -> str:
    """Stable GUIDs for seeded rows, so tests and the demo can name them."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bpmsoft-sandbox:{name}"))


@dataclass
class Entity:
    name: str
    columns: dict[str, str]
    lookups: dict[str, str] = field(default_factory=dict)
    """Navigation name → target entity; each has its `<name>Id` column."""
    integration: frozenset[str] = frozenset()
    """Columns a package added (absent on a bare instance)."""
    captions: dict[str, str] = field(default_factory=dict)
    """Column (lookups without `Id`) → what the user sees."""
    caption: str = ""

    def all_columns(self) -> dict[str, str]:
        return {**self.columns, **{f"{nav}Id": GUID for nav in self.lookups}}


BASE = {"Id": GUID, "CreatedOn": DATE, "ModifiedOn": DATE}
BASE_LOOKUPS = {"CreatedBy": "Contact", "ModifiedBy": "Contact"}
BASE_CAPTIONS = {
    "Id": "Id",
    "CreatedOn": "Дата создания",
    "ModifiedOn": "Дата изменения",
    "CreatedBy": "Создал",
    "ModifiedBy": "Изменил",
    "Name": "Название",
    "Owner": "Ответственный",
    "Contact": "Контакт",
    "Account": "Контрагент",
    "Lead": "Лид",
    "Phone": "Телефон",
    "MobilePhone": "Мобильный телефон",
    "Direction": "Направление звонка",
    "CallerId": "Номер От",
    "CalledId": "Номер Кому",
    "StartDate": "Дата начала",
    "EndDate": "Дата завершения",
    "Duration": "Длительность",
    "Caption": "Заголовок",
    "Comment": "Примечание",
    "IntegrationId": "Идентификатор звонка",
    "ParentCallId": "Идентификатор родительского звонка",
    "TalkTime": "Время разговора",
    "LeadName": "Название лида",
}
"""The base columns' captions (as a Russian-language instance shows them; the sandbox's own wording)."""


def _lookup(name: str, **extra: str) -> Entity:
    return Entity(name, {**BASE, "Name": TEXT, "Description": TEXT, **extra})


def entities() -> dict[str, Entity]:
    """A fresh copy of the full schema (the package installed, every column present)."""
    found = [
        Entity(
            "Contact",
            {
                **BASE,
                "Name": TEXT,
                "Phone": TEXT,
                "MobilePhone": TEXT,
                "HomePhone": TEXT,
                "Email": TEXT,
                "JobTitle": TEXT,
            },
            {**BASE_LOOKUPS, "Owner": "Contact", "Account": "Account", "Type": "ContactType"},
        ),
        Entity(
            "Account",
            {**BASE, "Name": TEXT, "Phone": TEXT, "AdditionalPhone": TEXT, "Web": TEXT},
            {**BASE_LOOKUPS, "Owner": "Contact", "PrimaryContact": "Contact", "Type": "AccountType"},
        ),
        Entity(
            "ContactCommunication",
            {**BASE, "Number": TEXT, "SearchNumber": TEXT, "Primary": BOOL},
            {**BASE_LOOKUPS, "Contact": "Contact", "CommunicationType": "CommunicationType"},
        ),
        Entity(
            "AccountCommunication",
            {**BASE, "Number": TEXT, "SearchNumber": TEXT, "Primary": BOOL},
            {**BASE_LOOKUPS, "Account": "Account", "CommunicationType": "CommunicationType"},
        ),
        Entity(
            "Lead",
            {
                **BASE,
                "LeadName": TEXT,
                "Contact": TEXT,
                "Account": TEXT,
                "BusinesPhone": TEXT,
                "MobilePhone": TEXT,
                "Email": TEXT,
                "Commentary": TEXT,
            },
            {
                **BASE_LOOKUPS,
                "QualifiedContact": "Contact",
                "QualifiedAccount": "Account",
                "LeadType": "LeadType",
                "QualifyStatus": "QualifyStatus",
                "Owner": "Contact",
                "SalesOwner": "Contact",
            },
        ),
        Entity(
            "Call",
            {
                **BASE,
                "IntegrationId": TEXT,
                "ParentCallId": TEXT,
                "CallerId": TEXT,
                "CalledId": TEXT,
                "RedirectingId": TEXT,
                "RedirectionId": TEXT,
                "StartDate": DATE,
                "EndDate": DATE,
                "Duration": INT,
                "BeforeConnectionTime": INT,
                "TalkTime": INT,
                "HoldTime": INT,
                "Caption": TEXT,
                "Comment": TEXT,
            },
            {
                **BASE_LOOKUPS,
                "Direction": "CallDirection",
                "Contact": "Contact",
                "Account": "Account",
                "Lead": "Lead",
                "Case": "Case",
                "Owner": "Contact",
            },
        ),
        Entity(
            "Case",
            {**BASE, "Number": TEXT, "Subject": TEXT, "Symptoms": TEXT, "RegisteredOn": DATE},
            {
                **BASE_LOOKUPS,
                "Contact": "Contact",
                "Account": "Account",
                "Owner": "Contact",
                "Status": "CaseStatus",
            },
        ),
        Entity(
            "SysUserInRole",
            dict(BASE),
            {**BASE_LOOKUPS, "SysUser": "SysAdminUnit", "SysRole": "SysAdminUnit"},
        ),
        Entity(
            "SysAdminUnit",
            {**BASE, "Name": TEXT, "Active": BOOL, "SysAdminUnitTypeValue": INT},
            {**BASE_LOOKUPS, "Contact": "Contact"},
        ),
        _lookup("CallDirection"),
        _lookup("CommunicationType"),
        _lookup("ContactType"),
        _lookup("AccountType"),
        _lookup("LeadType"),
        _lookup("QualifyStatus", IsFinal=BOOL, Position=INT),
        _lookup("CaseStatus", IsFinal=BOOL),
        Entity("SysSchema", {**BASE, "UId": GUID, "Name": TEXT, "Caption": TEXT, "ManagerName": TEXT}),
        Entity(
            "SysEntitySchemaColumn",
            {**BASE, "SysEntitySchemaUId": GUID, "UId": GUID, "Name": TEXT, "Caption": TEXT},
        ),
        Entity("VwSysEntitySchemaColumn", {**BASE, "EntitySchemaName": TEXT, "Name": TEXT, "Caption": TEXT}),
    ]
    for entity in found:
        entity.captions = {
            c: BASE_CAPTIONS[c]
            for c in [*entity.columns, *entity.lookups]
            if c in BASE_CAPTIONS and not (entity.name == "Lead" and c in ("Contact", "Account"))
        }
    return {entity.name: entity for entity in found}


CAPTION_TABLES = ("SysSchema", "SysEntitySchemaColumn", "VwSysEntitySchemaColumn")


def package() -> dict[str, Any]:
    """Our package's declaration (`integrations/bpmsoft-package/schemas.json`)."""
    return json.loads(PACKAGE_FILE.read_text(encoding="utf-8"))


def install_package(schema: dict[str, Entity], prefix: str = OUR_PREFIX) -> dict[str, list[dict[str, Any]]]:
    """Our package's schemas added to `schema` (names under `prefix`); answers the lookup rows it ships."""
    rows: dict[str, list[dict[str, Any]]] = {}

    def named(name: str) -> str:
        return prefix + name.removeprefix(OUR_PREFIX) if name.startswith(OUR_PREFIX) else name

    for declared in package()["schemas"]:
        name = named(declared["name"])
        if declared["extend_parent"]:
            entity = schema[name]
        else:
            base = {**BASE, "Name": TEXT, "Description": TEXT} if declared["parent"] == "BaseLookup" else BASE
            entity = schema[name] = Entity(name, dict(base), dict(BASE_LOOKUPS), caption=declared["caption"])
            entity.captions = {
                c: BASE_CAPTIONS[c] for c in [*entity.columns, *entity.lookups] if c in BASE_CAPTIONS
            }
        added = set()
        for column in declared["columns"]:
            column_name = named(column["name"])
            if column["type"] == "Lookup":
                entity.lookups[column_name] = named(column["reference"])
                added.add(f"{column_name}Id")
            else:
                entity.columns[column_name] = PACKAGE_TYPES[column["type"]]
                added.add(column_name)
            entity.captions[column_name] = column["caption"]
        entity.integration = frozenset({*entity.integration, *added})
        if declared.get("values"):
            rows[name] = [{"Id": v["id"], "Name": v["name"]} for v in declared["values"]]
    return rows


CALL_DIRECTIONS = {
    "1d96a65f-2131-4916-8825-2d142b1000b2": "Входящий",
    "53f71b5f-7e17-4cf5-bf14-6a59212db422": "Исходящий",
    "c072be2c-3d82-4468-9d4a-6db47d1f4cca": "Не определено",
}
COMMUNICATION_TYPES = {
    "d4a2dc80-30ca-df11-9b2a-001d60e938c6": "Мобильный телефон",
    "3dddb3cc-53ee-49c4-a71f-e9e257f59e49": "Рабочий телефон",
    "0da6a26b-d7bc-df11-b00f-001d60e938c6": "Домашний телефон",
    "6a8ba927-67cc-df11-9b2a-001d60e938c6": "Основной телефон",
}
MOBILE_TYPE, WORK_TYPE, HOME_TYPE, MAIN_TYPE = COMMUNICATION_TYPES
PHONE_COLUMN_TYPES = {
    ("Contact", "MobilePhone"): MOBILE_TYPE,
    ("Contact", "Phone"): WORK_TYPE,
    ("Contact", "HomePhone"): HOME_TYPE,
    ("Account", "Phone"): MAIN_TYPE,
    ("Account", "AdditionalPhone"): WORK_TYPE,
}
"""Phone columns that BPMSoft mirrors into the communication options (and from which it searches)."""

LEAD_TYPES = {
    sandbox_id(f"lead-type:{name}"): name for name in ("Покупка продукта", "Консультация", "Сервис")
}
QUALIFY_STATUSES = {
    sandbox_id(f"qualify-status:{name}"): (name, final, position)
    for position, (name, final) in enumerate(
        [
            ("Квалификация", False),
            ("Распределение", False),
            ("Передан в продажу", False),
            ("Ожидание продажи", False),
            ("Квалифицирован", True),
            ("Дисквалифицирован", True),
        ]
    )
}
CASE_STATUSES = {
    sandbox_id(f"case-status:{name}"): (name, final)
    for name, final in (("Новое", False), ("В работе", False), ("Решено", True), ("Закрыто", True))
}
FUNCTIONAL_ROLE_TYPE = 6
"""`SysAdminUnitTypeValue` of functional roles (users are 4)."""
CALL_STATUSES = {
    value["id"]: value["name"]
    for declared in package()["schemas"]
    if declared["name"] == f"{OUR_PREFIX}CallStatus"
    for value in declared["values"]
}
"""«Статус звонка» as our package ships it."""


def csdl(schema: dict[str, Entity]) -> str:
    """`$metadata`: the EDMX (CSDL 4.0) document a BPMSoft instance answers, for what it has."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        f'<Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
    ]
    for entity in schema.values():
        lines.append(f'<EntityType Name="{escape(entity.name)}">')
        lines.append('<Key><PropertyRef Name="Id"/></Key>')
        for column, kind in entity.all_columns().items():
            nullable = "false" if column == "Id" else "true"
            lines.append(f'<Property Name="{escape(column)}" Type="{kind}" Nullable="{nullable}"/>')
        for nav, target in entity.lookups.items():
            lines.append(
                f'<NavigationProperty Name="{escape(nav)}" Type="{NAMESPACE}.{escape(target)}">'
                f'<ReferentialConstraint Property="{escape(nav)}Id" ReferencedProperty="Id"/>'
                "</NavigationProperty>"
            )
        lines.append("</EntityType>")
    lines.append('<EntityContainer Name="BPMSoft">')
    for entity in schema.values():
        lines.append(
            f'<EntitySet Name="{escape(entity.name)}" EntityType="{NAMESPACE}.{escape(entity.name)}"/>'
        )
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines)
