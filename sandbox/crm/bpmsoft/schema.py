"""What the BPMSoft sandbox's instance holds: its entities, their columns, and the lookups it ships with.

The columns follow Creatio's base schemas (`Call_Base`, `Lead_Lead`, contact communications) that
BPMSoft inherits, plus the columns the MANGO OFFICE integration package adds (`Mango…`: call status,
line, recordings, speech analytics, quality score, the ДКТ call-tracking fields, the action history).
An instance without the package, or with an older one, is simulated by dropping columns; `$metadata`
then describes what is left, as a real instance would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

NAMESPACE = "BPMSoft.Configuration.OData"

GUID, TEXT, INT, BOOL, DATE, DECIMAL = (
    "Edm.Guid",
    "Edm.String",
    "Edm.Int32",
    "Edm.Boolean",
    "Edm.DateTimeOffset",
    "Edm.Decimal",
)


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
    """Columns the MANGO OFFICE package adds (absent when the package is not installed)."""

    def all_columns(self) -> dict[str, str]:
        return {**self.columns, **{f"{nav}Id": GUID for nav in self.lookups}}


BASE = {"Id": GUID, "CreatedOn": DATE, "ModifiedOn": DATE}
BASE_LOOKUPS = {"CreatedBy": "Contact", "ModifiedBy": "Contact"}

DCT_COLUMNS: dict[str, str] = {
    "MangoDctClientId": TEXT,
    "MangoDctClientCid": TEXT,
    "MangoDctYaClientId": TEXT,
    "MangoDctCity": TEXT,
    "MangoDctSource": TEXT,
    "MangoDctMedium": TEXT,
    "MangoDctCampaign": TEXT,
    "MangoDctContent": TEXT,
    "MangoDctTerm": TEXT,
    "MangoDctTimeOnSite": INT,
    "MangoDctCallPage": TEXT,
    "MangoDctContext": TEXT,
    "MangoDctCustom": TEXT,
    "MangoDctAppName": TEXT,
    "MangoDctRequestType": TEXT,
    "MangoRoistat": TEXT,
    "MangoDctCallType": TEXT,
    "MangoDctDevice": TEXT,
    "MangoDctNewUser": BOOL,
}
"""The ДКТ tab: «ДКТ: client_id» … «ДКТ: Новый пользователь», in the guide's order."""

CLIENT_INTEGRATION = {"MangoLineNumber": TEXT, **DCT_COLUMNS}
CALL_INTEGRATION = {
    "MangoEntryId": TEXT,
    "MangoLineNumber": TEXT,
    "MangoRecordLinks": TEXT,
    "MangoQualityScore": INT,
    "MangoSpeechTopics": TEXT,
    "MangoTranscript": TEXT,
    **DCT_COLUMNS,
}


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
                **CLIENT_INTEGRATION,
            },
            {**BASE_LOOKUPS, "Owner": "Contact", "Account": "Account", "Type": "ContactType"},
            frozenset(CLIENT_INTEGRATION),
        ),
        Entity(
            "Account",
            {**BASE, "Name": TEXT, "Phone": TEXT, "AdditionalPhone": TEXT, "Web": TEXT, **CLIENT_INTEGRATION},
            {**BASE_LOOKUPS, "Owner": "Contact", "PrimaryContact": "Contact", "Type": "AccountType"},
            frozenset(CLIENT_INTEGRATION),
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
                **CLIENT_INTEGRATION,
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
            frozenset(CLIENT_INTEGRATION),
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
                **CALL_INTEGRATION,
            },
            {
                **BASE_LOOKUPS,
                "Direction": "CallDirection",
                "Contact": "Contact",
                "Account": "Account",
                "Lead": "Lead",
                "Case": "Case",
                "MangoCallStatus": "MangoCallStatus",
                "MangoResponsible": "Contact",
            },
            frozenset({*CALL_INTEGRATION, "MangoCallStatusId", "MangoResponsibleId"}),
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
            "MangoCallEntity",
            {**BASE, "EntityName": TEXT, "EntityId": GUID},
            {**BASE_LOOKUPS, "Call": "Call"},
        ),
        Entity(
            "SysAdminUnit",
            {**BASE, "Name": TEXT, "Active": BOOL, "SysAdminUnitTypeValue": INT},
            {**BASE_LOOKUPS, "Contact": "Contact"},
        ),
        Entity(
            "MangoCallAction",
            {
                **BASE,
                "Position": INT,
                "RuleOrder": INT,
                "Direction": TEXT,
                "Role": TEXT,
                "Condition": TEXT,
                "Entity": TEXT,
                "Entity2": TEXT,
                "Action": TEXT,
                "Value": TEXT,
                "Result": TEXT,
            },
            {**BASE_LOOKUPS, "Call": "Call"},
        ),
        _lookup("CallDirection"),
        _lookup("CommunicationType"),
        _lookup("ContactType"),
        _lookup("AccountType"),
        _lookup("LeadType"),
        _lookup("QualifyStatus", IsFinal=BOOL, Position=INT),
        _lookup("MangoCallStatus"),
        _lookup("CaseStatus", IsFinal=BOOL),
    ]
    return {entity.name: entity for entity in found}


INTEGRATION_ENTITIES = frozenset({"MangoCallStatus", "MangoCallAction", "MangoCallEntity"})
"""Whole objects the package adds."""

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
    sandbox_id(f"call-status:{name}"): name
    for name in ("Принят успешно", "Пропущенный", "Успешный исходящий", "Недозвон")
}


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
