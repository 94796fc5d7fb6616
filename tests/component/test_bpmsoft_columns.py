"""BPMSoft without guessed names: our own package, a bare instance, columns under another prefix found by
their captions, columns named in the tenant's settings — what each instance ends up holding and what the
connection check tells the operator about it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mango_bridge.calls.visitor import Visitor
from mango_bridge.crm.bpmsoft import BpmSoftAdapter, BpmSoftClient, StaticCredentials, parse_metadata
from mango_bridge.crm.bpmsoft.client import forget_schemas
from mango_bridge.crm.bpmsoft.fields import CALL_ACTION, FIELDS, PACKAGE, PREFIX
from mango_bridge.crm.bpmsoft.rules_backend import BpmSoftRulesBackend
from mango_bridge.crm.errors import BadSettings
from mango_bridge.crm.port import CallAnnotation, Executed, RecordingLink
from mango_bridge.policy.intents import (
    CreateCompany,
    CreateContact,
    CreateLead,
    Intent,
    LogCall,
    SaveCallTracking,
)
from mango_bridge.role_rules import Entity, RuleCall
from mango_bridge.role_rules.history import AppliedRow, History
from mango_bridge.settings.model import CrmConnection
from sandbox.crm.bpmsoft import DEFAULT_LOGIN, DEFAULT_PASSWORD, BpmSoftSandbox, sandbox_id

ENTRY = "MToxMDE4NTg2OTkxOTowMDk="
NUMBER = "+74955404444"
LINE = "+74953745669"
ANNA = sandbox_id("contact:anna")
NOW = dt.datetime(2023, 10, 23, 18, 7, 45)
LINKS = {"rec-1": RecordingLink(recording_id="rec-1", url="https://bridge.test/r/rec-1?sig=a")}
PACKAGE_FILE = Path(__file__).resolve().parents[2] / "integrations" / "bpmsoft-package" / "schemas.json"


@pytest.fixture(autouse=True)
def _fresh_metadata() -> Iterator[None]:
    forget_schemas()
    yield
    forget_schemas()


@pytest.fixture
def bpm() -> Iterator[BpmSoftSandbox]:
    with BpmSoftSandbox(port=0) as sandbox:
        yield sandbox


def instance(bpm: BpmSoftSandbox, **reset: Any) -> None:
    bpm.reset(**reset)
    bpm.seed(users=[{"id": ANNA, "name": "Анна"}])


def adapter_for(bpm: BpmSoftSandbox, **options: Any) -> BpmSoftAdapter:
    client = BpmSoftClient(bpm.url, StaticCredentials(DEFAULT_LOGIN, DEFAULT_PASSWORD))
    return BpmSoftAdapter(client, sleep=lambda _: None, now=lambda: NOW, **options).for_call(ENTRY)


def new_client_call(adapter: BpmSoftAdapter) -> dict[str, Executed]:
    """A new number calls the company line: contact, account, lead, ДКТ, the call card, the score."""
    common: dict[str, Any] = {"reason": "t", "responsible_user_id": ANNA, "name": "Новый", "phone": NUMBER}
    intents: list[Intent] = [
        CreateContact(key="create_contact", source_line=LINE, **common),
        CreateCompany(key="create_company", contact_key="create_contact", **common),
        CreateLead(key="create_lead", related_keys=("create_contact", "create_company"), **common),
        SaveCallTracking(
            key="save_call_tracking",
            reason="t",
            targets=("create_contact",),
            tracking_number=LINE,
            number_type="dynamic",
            visitor=Visitor(client_id="uid-1", city="Москва"),
        ),
        LogCall(
            key="log_call:leg-1",
            reason="t",
            direction="incoming",
            result="answered",
            started_at=1_698_125_805,
            duration_seconds=26,
            responsible_user_id=ANNA,
            bound_by="employee",
            employee_extension="101",
            talk_leg_ids=("leg-1",),
            leg_ids=("leg-1",),
            recording_ids=("rec-1",),
            line_number=LINE,
            phone=NUMBER,
            customer=None,
            related_keys=("create_contact", "create_company", "create_lead"),
        ),
    ]
    done: dict[str, Executed] = {}
    for intent in intents:
        done[intent.key] = adapter.execute(intent, done, LINKS)
    done["quality"] = adapter.annotate(done["log_call:leg-1"], CallAnnotation(key="quality", quality_score=5))
    return done


def the(rows: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(rows) == 1, rows
    return rows[0]


def status_id(bpm: BpmSoftSandbox, lookup: str, name: str) -> str:
    return the([r for r in bpm.rows(lookup) if r["Name"] == name])["Id"]


# -- the package ---------------------------------------------------------------------------------


def test_the_package_file_the_adapter_and_the_sandbox_name_the_same_columns() -> None:
    declared = json.loads(PACKAGE_FILE.read_text(encoding="utf-8"))
    assert declared["package"]["name"] == PACKAGE and declared["package"]["prefix"] == PREFIX
    columns = {c["key"]: c for s in declared["schemas"] if s["name"] == "Call" for c in s["columns"]}
    for field in FIELDS.values():
        if "Call" in field.entities:
            assert (columns[field.key]["name"], columns[field.key]["caption"]) == (
                field.column,
                field.caption,
            )
    names = [s["name"] for s in declared["schemas"]]
    assert all(n.startswith(PREFIX) for n in names if n not in ("Call", "Contact", "Account", "Lead"))
    assert CALL_ACTION in names
    for schema in declared["schemas"]:
        for column in schema["columns"]:
            assert column["name"].startswith(("UsrMcb", "Usr")), column  # nothing under MANGO OFFICE's names


def test_with_our_package_everything_is_written_where_the_package_puts_it(bpm: BpmSoftSandbox) -> None:
    instance(bpm)
    done = new_client_call(adapter_for(bpm))
    call = the(bpm.rows("Call"))
    assert call["UsrMcbCallStatusId"] == status_id(bpm, "UsrMcbCallStatus", "Принят успешно")
    assert call["UsrMcbEntryId"] == ENTRY and call["UsrMcbLine"] == LINE
    assert call["UsrMcbRecordLinks"] == LINKS["rec-1"].url and call["UsrMcbQualityScore"] == 5
    assert call["UsrMcbDctClientId"] == "uid-1" and call["UsrMcbDctCity"] == "Москва"  # the «ДКТ» tab
    assert call["Comment"] is None  # nothing needed a note
    assert (
        the(bpm.rows("Contact") and [c for c in bpm.rows("Contact") if c["UsrMcbLine"]])["UsrMcbLine"] == LINE
    )
    assert "skipped" not in "".join(e.detail for e in done.values())
    check = adapter_for(bpm).check_connection()
    assert check.ok and f"пакет {PACKAGE} установлен" in check.message
    assert "«Оценка качества»: Call.UsrMcbQualityScore (по коду пакета)" in check.message


# -- a bare instance -----------------------------------------------------------------------------


def test_a_bare_instance_gets_the_call_card_in_base_columns_and_the_rest_in_the_note(
    bpm: BpmSoftSandbox,
) -> None:
    instance(bpm, app_installed=False)
    assert not [c for r in bpm.rows("Call") for c in r if c.startswith("Mango")]
    adapter = adapter_for(bpm)
    done = new_client_call(adapter)
    call = the(bpm.rows("Call"))
    person = the([c for c in bpm.rows("Contact") if c["Name"].startswith("Auto #")])
    account, lead = the(bpm.rows("Account")), the(bpm.rows("Lead"))
    assert (call["CallerId"], call["CalledId"]) == ("74955404444", "74953745669")  # seed 000, figure 89
    assert call["Caption"] == "Incoming 2023-10-24 05:36:45" and call["Duration"] == 26
    assert call["StartDate"] == "2023-10-24T05:36:45Z" and call["EndDate"] == "2023-10-24T05:37:11Z"
    assert (call["ContactId"], call["AccountId"], call["LeadId"]) == (person["Id"], account["Id"], lead["Id"])
    assert call["OwnerId"] == ANNA and call["DirectionId"]
    assert call["Comment"].splitlines() == [
        f"ID звонка MANGO OFFICE: {ENTRY}",
        "Статус звонка: Принят успешно",
        f"Название линии: {LINE}",
        f"Запись разговора: {LINKS['rec-1'].url}",
    ]
    assert (
        "Call «Оценка качества»" in done["quality"].detail or "UsrMcbQualityScore" in done["quality"].detail
    )
    assert "Contact «ДКТ: client_id»" in done["save_call_tracking"].detail
    check = adapter_for(bpm).check_connection()
    assert check.ok and "Авторизационные данные корректны" in check.message
    assert "не установлен" in check.message and "не подключено приложение" not in check.message
    assert "«Записи разговоров»: в примечание звонка (Call.Comment)" in check.message
    assert (
        "«Оценка качества» выключено" in check.message
        and "crm.bpmsoft.columns.quality_score" in check.message
    )
    assert "«ДКТ (коллтрекинг)» выключено" in check.message
    assert "«Действия звонка» (история правил по ролям): в примечание звонка (Call.Comment)" in check.message


def test_role_rules_find_the_call_of_a_bare_instance_by_its_note(bpm: BpmSoftSandbox) -> None:
    instance(bpm, app_installed=False)
    adapter = adapter_for(bpm)
    new_client_call(adapter)
    backend = BpmSoftRulesBackend(adapter)
    lead = the(bpm.rows("Lead"))
    backend.bind_to_call(RuleCall(entry_id=ENTRY, direction="incoming"), Entity("Лид", lead["Id"]))
    assert the(bpm.rows("Call"))["LeadId"] == lead["Id"]


# -- another prefix, found by what the user sees -------------------------------------------------


def test_columns_under_another_prefix_are_found_by_their_captions(bpm: BpmSoftSandbox) -> None:
    instance(bpm, prefix="Vnd")
    assert "UsrMcbQualityScore" not in the(bpm.rows("Call") or [{"Id": 1}])
    new_client_call(adapter_for(bpm))
    call = the(bpm.rows("Call"))
    assert "UsrMcbQualityScore" not in call
    assert call["VndCallStatusId"] == status_id(bpm, "VndCallStatus", "Принят успешно")
    assert call["VndQualityScore"] == 5 and call["VndRecordLinks"] == LINKS["rec-1"].url
    assert call["VndDctClientId"] == "uid-1" and call["Comment"] is None
    check = adapter_for(bpm).check_connection()
    assert (
        check.ok and "«Оценка качества»: Call.VndQualityScore (по подписи «Оценка качества»)" in check.message
    )


def test_without_the_caption_tables_the_check_says_columns_are_found_by_code_only(
    bpm: BpmSoftSandbox,
) -> None:
    instance(bpm, prefix="Vnd", captions=False)
    check = adapter_for(bpm).check_connection()
    assert check.ok and "Подписи колонок прочитать не удалось" in check.message
    assert "«Оценка качества» выключено" in check.message


def test_a_tenant_names_columns_by_caption_or_code_and_hears_about_those_not_found(
    bpm: BpmSoftSandbox,
) -> None:
    instance(bpm, prefix="Vnd")
    wanted = {
        "quality_score": "оценка качества",
        "record_links": "VndRecordLinks",
        "topics": "Теги разговора",
    }
    adapter = adapter_for(bpm, storage="base", columns=wanted)
    new_client_call(adapter)
    call = the(bpm.rows("Call"))
    assert call["VndQualityScore"] == 5 and call["VndRecordLinks"] == LINKS["rec-1"].url
    check = adapter_for(bpm, storage="base", columns={**wanted, "mood": "Настроение"}).check_connection()
    assert "Хранение: только базовые колонки" in check.message
    assert "Call.VndQualityScore (по настройке «оценка качества»)" in check.message
    assert "колонки «Теги разговора» из настроек нет в Call" in check.message
    assert "неизвестные поля: mood" in check.message


def test_the_settings_carry_the_storage_and_the_columns_to_the_adapter() -> None:
    from mango_bridge.crm.bpmsoft.factory import build

    crm = CrmConnection.model_validate(
        {
            "kind": "bpmsoft",
            "url": "https://company.bpmsoft.ru",
            "credentials": {"secret_name": "t/crm"},
            "bpmsoft": {"storage": "base", "columns": {"quality_score": " Оценка качества "}},
        }
    )
    adapter = build(crm)
    assert isinstance(adapter, BpmSoftAdapter)
    assert adapter.storage == "base" and adapter.wanted_columns == {"quality_score": "Оценка качества"}
    with pytest.raises(ValueError):
        CrmConnection.model_validate({**crm.model_dump(), "bpmsoft": {"storage": "mango"}})


# -- seed 000's names, numbers and searches -------------------------------------------------------


def test_records_from_a_new_number_are_named_as_seed_000_shows_them(bpm: BpmSoftSandbox) -> None:
    instance(bpm)
    done = new_client_call(adapter_for(bpm))
    assert [r.name for r in done["create_contact"].refs] == ["Auto #74955404444"]
    assert the(bpm.rows("Account"))["Name"] == "Интеграция Контрагент Новый (2023.10.23 18:07:45)"
    assert the(bpm.rows("Lead"))["LeadName"] == "Интеграция Лид Новый (2023.10.23 18:07:45)"
    assert the(bpm.rows("Lead"))["Contact"] == "Auto #74955404444"


@pytest.mark.parametrize("typed", ["+7 (495) 540-44-44", "8 495 540 44 44", "8(495)5404444"])
def test_leads_are_found_by_numbers_typed_with_separators(bpm: BpmSoftSandbox, typed: str) -> None:
    instance(bpm)
    lead = bpm.seed(Lead=[{"LeadName": "Лид с сайта", "BusinesPhone": typed}])["Lead"][0]
    found = adapter_for(bpm).facts(NUMBER).found
    assert [(f.kind, f.id) for f in found] == [("lead", lead)]


# -- the session and $metadata -------------------------------------------------------------------


def test_metadata_is_read_once_per_container_and_again_by_the_connection_check(bpm: BpmSoftSandbox) -> None:
    instance(bpm)
    adapter_for(bpm).facts(NUMBER)
    adapter_for(bpm).facts(NUMBER)
    reads = [r for r in bpm.state()["requests"] if r["path"].endswith("/$metadata")]
    assert len(reads) == 1
    adapter_for(bpm).check_connection()
    assert len([r for r in bpm.state()["requests"] if r["path"].endswith("/$metadata")]) == 2


def test_metadata_of_thousands_of_types_is_parsed() -> None:
    types = "".join(
        f'<EntityType Name="T{i}"><Key><PropertyRef Name="Id"/></Key><Property Name="Id" Type="Edm.Guid"/>'
        f'<Property Name="Name" Type="Edm.String"/><NavigationProperty Name="Owner" Type="NS.Contact"/>'
        "</EntityType>"
        for i in range(4000)
    )
    sets = "".join(f'<EntitySet Name="T{i}" EntityType="NS.T{i}"/>' for i in range(4000))
    text = (
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
        f'<Schema Namespace="NS" xmlns="http://docs.oasis-open.org/odata/ns/edm">{types}'
        f'<EntityContainer Name="C">{sets}</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>'
    )
    schema = parse_metadata(text)
    assert len(schema.entities) == 4000 and schema.has("T3999", "OwnerId")
    assert schema.target("T17", "OwnerId") == "Contact"


def test_a_refused_login_says_what_the_exception_object_says(bpm: BpmSoftSandbox) -> None:
    client = BpmSoftClient(bpm.url, StaticCredentials(DEFAULT_LOGIN, "wrong"))
    with pytest.raises(BadSettings, match="Неверное имя пользователя или пароль"):
        client.login()


# -- «Действия звонка» -----------------------------------------------------------------------------


def two_rules() -> History:
    return History(
        status="completed",
        entry_id=ENTRY,
        direction="incoming",
        rows=[
            AppliedRow(
                step=1, order=1, action="do_nothing", result="switched_on", message="Настройка включена"
            ),
            AppliedRow(
                step=2,
                order=10,
                entity="Контакт",
                action="load_linked_to_participants",
                result="nothing",
                message="Нет найденных сущностей",
            ),
        ],
    )


def test_a_deleted_rule_leaves_the_history_of_every_call(bpm: BpmSoftSandbox) -> None:
    instance(bpm)
    adapter = adapter_for(bpm)
    new_client_call(adapter)
    backend = BpmSoftRulesBackend(adapter)
    assert backend.record_history(ENTRY, two_rules()) == 2
    assert backend.forget_rule(10) == 1
    assert [r["UsrRuleOrder"] for r in bpm.rows(CALL_ACTION)] == [1]


def test_without_the_package_the_history_is_a_section_of_the_call_note(bpm: BpmSoftSandbox) -> None:
    instance(bpm, app_installed=False)
    adapter = adapter_for(bpm)
    new_client_call(adapter)
    backend = BpmSoftRulesBackend(adapter)
    assert backend.record_history(ENTRY, two_rules()) == 2
    assert backend.record_history(ENTRY, two_rules()) == 0  # a retried run changes nothing
    note = the(bpm.rows("Call"))["Comment"].splitlines()
    assert note[0] == f"ID звонка MANGO OFFICE: {ENTRY}"
    assert note[-3:] == [
        "Действия звонка:",
        "1. [правило 1] Настройка включена",
        "2. [правило 10] Контакт — Загрузить сущности, связанные с участниками звонка — Нет найденных сущностей",
    ]
    assert backend.forget_rule(10) == 1
    assert the(bpm.rows("Call"))["Comment"].splitlines()[-2:] == [
        "Действия звонка:",
        "1. [правило 1] Настройка включена",
    ]
