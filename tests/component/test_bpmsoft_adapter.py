"""The BPMSoft adapter against the BPMSoft sandbox: what it finds, what the instance ends up holding,
how it logs in and how it fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mango_bridge.calls.visitor import Visitor
from mango_bridge.crm.bpmsoft import BpmSoftAdapter, BpmSoftClient, StaticCredentials, normalise_base_url
from mango_bridge.crm.errors import BadSettings, CrmRateLimited, CrmRejected, CrmUnavailable
from mango_bridge.crm.port import CallAnnotation, Executed, RecordingLink, TranscriptPhrase
from mango_bridge.policy.facts import EntityRef
from mango_bridge.policy.intents import (
    CreateCompany,
    CreateContact,
    CreateDeal,
    CreateLead,
    Intent,
    LogCall,
    SaveCallTracking,
    UpdateResponsible,
)
from sandbox.crm.bpmsoft import (
    CALL_DIRECTIONS,
    CALL_STATUSES,
    DEFAULT_LOGIN,
    DEFAULT_PASSWORD,
    LEAD_TYPES,
    QUALIFY_STATUSES,
    BpmSoftSandbox,
    sandbox_id,
)

ENTRY = "MToxMDE4NTg2OTkxOTowMDE="
NEW_NUMBER = "+79161112233"
KNOWN_NUMBER = "+79161234567"
ANNA, BORIS = sandbox_id("contact:anna"), sandbox_id("contact:boris")
INCOMING, OUTGOING = (g for g, name in CALL_DIRECTIONS.items() if name in ("Входящий", "Исходящий"))
NEED = {name: guid for guid, name in LEAD_TYPES.items()}
STAGE = {name: guid for guid, (name, _, _) in QUALIFY_STATUSES.items()}
STATUS = {name: guid for guid, name in CALL_STATUSES.items()}
LINKS = {
    "rec-1": RecordingLink(recording_id="rec-1", url="https://bridge.test/r/rec-1?sig=a"),
    "rec-2": RecordingLink(recording_id="rec-2", url="https://bridge.test/r/rec-2?sig=b"),
}
NAME = "Новый (16:30 05.03.2026, входящий вызов)"
AUTO = "Auto #79161112233"
"""A contact created from a new number, named as seed 000's figure 95 shows it."""


USERS = [
    {"id": ANNA, "name": "Анна Смирнова"},
    {"id": BORIS, "name": "Борис Иванов"},
    {"id": sandbox_id("contact:gone"), "name": "Григорий Уволенный", "active": False},
]


@pytest.fixture
def bpm() -> Iterator[BpmSoftSandbox]:
    with BpmSoftSandbox(port=0) as sandbox:
        sandbox.seed(users=USERS)
        yield sandbox


def client_for(
    bpm: BpmSoftSandbox, password: str = DEFAULT_PASSWORD, address: str | None = None
) -> BpmSoftClient:
    return BpmSoftClient(address or bpm.url, StaticCredentials(DEFAULT_LOGIN, password))


@pytest.fixture
def adapter(bpm: BpmSoftSandbox) -> Iterator[BpmSoftAdapter]:
    client = client_for(bpm)
    yield BpmSoftAdapter(client, sleep=lambda _: None).for_call(ENTRY)
    client.close()


def run(
    adapter: BpmSoftAdapter, *intents: Intent, links: dict[str, RecordingLink] | None = None
) -> dict[str, Executed]:
    done: dict[str, Executed] = {}
    for intent in intents:
        done[intent.key] = adapter.execute(intent, done, links or {})
    return done


def contact(**fields: Any) -> CreateContact:
    values = {
        "key": "create_contact",
        "reason": "t",
        "responsible_user_id": BORIS,
        "name": NAME,
        "phone": NEW_NUMBER,
    }
    return CreateContact(**{**values, **fields})


def company(**fields: Any) -> CreateCompany:
    values = {
        "key": "create_company",
        "reason": "t",
        "responsible_user_id": BORIS,
        "name": NAME,
        "phone": NEW_NUMBER,
        "contact_key": "create_contact",
    }
    return CreateCompany(**{**values, **fields})


def lead(**fields: Any) -> CreateLead:
    values = {
        "key": "create_lead",
        "reason": "t",
        "responsible_user_id": BORIS,
        "name": NAME,
        "phone": NEW_NUMBER,
        "need_type": "Консультация",
        "stage": STAGE["Квалификация"],
        "related_keys": ("create_contact", "create_company"),
    }
    return CreateLead(**{**values, **fields})


def log_call(**fields: Any) -> LogCall:
    values: dict[str, Any] = {
        "key": "log_call:leg-1",
        "reason": "t",
        "direction": "incoming",
        "result": "answered",
        "started_at": 1_772_700_000,
        "duration_seconds": 95,
        "responsible_user_id": BORIS,
        "bound_by": "employee",
        "employee_extension": "102",
        "talk_leg_ids": ("leg-1",),
        "leg_ids": ("ivr-1", "leg-1"),
        "recording_ids": ("rec-1",),
        "line_number": "74951234567",
        "phone": NEW_NUMBER,
        "customer": None,
        "related_keys": (),
    }
    return LogCall(**{**values, **fields})


def one(rows: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(rows) == 1, rows
    return rows[0]


# -- facts ----------------------------------------------------------------------------------------


def test_facts_find_contacts_then_accounts_then_open_leads_by_the_last_digits_with_their_responsibles(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    ids = bpm.seed(
        Account=[{"Name": "ООО Ромашка", "Phone": "8 (916) 123-45-67", "OwnerId": ANNA}],
        Contact=[
            {"Name": "Иван Петров", "MobilePhone": "+7 (916) 123-45-67", "OwnerId": BORIS},
            {"Name": "Другой", "MobilePhone": "+7 (916) 123-45-68"},
        ],
    )
    ivan = ids["Contact"][0]
    bpm.seed(
        Lead=[
            {
                "LeadName": "Открытый лид Ивана",
                "QualifiedContactId": ivan,
                "QualifyStatusId": STAGE["Распределение"],
            },
            {
                "LeadName": "Закрытый лид",
                "QualifiedContactId": ivan,
                "QualifyStatusId": STAGE["Дисквалифицирован"],
            },
            {
                "LeadName": "Лид с номером",
                "MobilePhone": "79161234567",
                "OwnerId": ANNA,
                "QualifyStatusId": STAGE["Квалификация"],
            },
        ]
    )
    facts = adapter.facts(KNOWN_NUMBER)
    assert [(f.kind, f.name) for f in facts.found] == [
        ("contact", "Иван Петров"),
        ("company", "ООО Ромашка"),
        ("lead", "Лид с номером"),
    ]
    contact_found = facts.found[0]
    assert contact_found.responsible_user_ids == (BORIS,)
    assert len(contact_found.open_lead_ids) == 1  # the disqualified one is closed
    assert facts.found[1].responsible_user_ids == (ANNA,)
    users = {u.id: u for u in facts.users}
    assert users[ANNA].name == "Анна Смирнова" and users[ANNA].can_be_responsible
    assert users[sandbox_id("contact:gone")].blocked
    searches = [r for r in bpm.requests if r.path.endswith("$batch")]
    assert len(searches) == 1  # the three searches went in one round trip


def test_a_communication_option_with_search_digits_in_order_is_found_too(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    ivan = bpm.seed(Contact=[{"Name": "Иван"}])["Contact"][0]
    bpm.seed(
        ContactCommunication=[
            {"ContactId": ivan, "Number": "+7 (916) 123-45-67", "SearchNumber": "79161234567"}
        ]
    )
    assert [f.id for f in adapter.facts(KNOWN_NUMBER).found] == [ivan]


def test_a_new_number_has_no_facts_and_a_hidden_number_is_not_searched(adapter: BpmSoftAdapter) -> None:
    assert adapter.facts(NEW_NUMBER).is_new_number
    assert adapter.facts(None).found == () and adapter.facts(None).users


# -- new client: contact, account, lead ----------------------------------------------------------


def test_new_client_contact_account_and_lead_with_need_type_and_stage(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    done = run(adapter, contact(source_line="74951234567"), company(), lead())
    person = one(bpm.rows("Contact") and [c for c in bpm.rows("Contact") if c["Name"] == AUTO])
    account = one(bpm.rows("Account"))
    made = one(bpm.rows("Lead"))
    assert person["MobilePhone"] == NEW_NUMBER and person["OwnerId"] == BORIS
    assert person["UsrMcbLine"] == "74951234567"  # F16
    assert person["AccountId"] == account["Id"] and account["PrimaryContactId"] == person["Id"]
    assert account["Phone"] == NEW_NUMBER and account["OwnerId"] == BORIS
    assert made["LeadTypeId"] == NEED["Консультация"]  # chosen by name
    assert made["QualifyStatusId"] == STAGE["Квалификация"]  # chosen by id
    assert made["QualifiedContactId"] == person["Id"] and made["QualifiedAccountId"] == account["Id"]
    assert made["MobilePhone"] == NEW_NUMBER and made["OwnerId"] == BORIS
    communication = one([c for c in bpm.rows("ContactCommunication") if c["ContactId"] == person["Id"]])
    assert communication["Number"] == NEW_NUMBER  # what BPMSoft's CTI will find the next call by
    assert [r.kind for r in done["create_lead"].refs] == ["lead"]
    assert "qualified to contact" in done["create_lead"].detail
    assert adapter.facts(NEW_NUMBER).found[0].id == person["Id"]


def test_every_create_is_made_once_even_when_retried_after_a_lost_answer(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    first = run(adapter, contact())
    again = adapter.for_call(ENTRY).execute(contact(), {}, {})  # a re-run: same call, same key
    assert again.refs == first["create_contact"].refs
    assert "earlier attempt" in again.detail
    assert len([c for c in bpm.rows("Contact") if c["Name"] == AUTO]) == 1


def test_unknown_need_type_is_a_settings_problem_naming_the_choices(adapter: BpmSoftAdapter) -> None:
    with pytest.raises(BadSettings, match="«Тип потребности» 'Аренда' is not in BPMSoft's LeadType list"):
        run(adapter, contact(), lead(need_type="Аренда", related_keys=("create_contact",)))


def test_a_deal_is_not_something_bpmsoft_has(adapter: BpmSoftAdapter) -> None:
    deal = CreateDeal(key="create_deal", reason="t", responsible_user_id=BORIS, name=NAME, phone=NEW_NUMBER)
    with pytest.raises(BadSettings, match="BPMSoft has no deal"):
        adapter.execute(deal, {}, {})


def test_responsible_update_and_call_tracking_go_on_every_created_record(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    visitor = Visitor(
        tracking_number="74957778899",
        client_id="uid-1",
        ga_client_id="GA1.2.3",
        city="Москва",
        utm_source="yandex",
        utm_medium="cpc",
        utm_campaign="spring",
        utm_term="купить диван",
        time_on_site=340,
        call_page="https://shop.test/sofa",
        new_visitor=True,
        device="mobile",
    )
    tracking = SaveCallTracking(
        key="save_call_tracking",
        reason="t",
        targets=("create_contact", "create_lead"),
        tracking_number="74957778899",
        number_type="dynamic",
        visitor=visitor,
    )
    owner = UpdateResponsible(
        key="update_responsible",
        reason="t",
        targets=("create_contact", "create_lead"),
        responsible_user_id=ANNA,
    )
    run(
        adapter,
        contact(),
        lead(related_keys=("create_contact",)),
        tracking,
        owner,
        log_call(related_keys=("create_contact", "create_lead")),
    )
    person = one([c for c in bpm.rows("Contact") if c["Name"] == AUTO])
    made = one(bpm.rows("Lead"))
    call = one(bpm.rows("Call"))
    for row in (person, made, call):  # the new client's records and the call card's «ДКТ» tab
        assert row["UsrMcbDctClientId"] == "uid-1" and row["UsrMcbDctClientCid"] == "GA1.2.3"
        assert row["UsrMcbDctCity"] == "Москва" and row["UsrMcbDctSource"] == "yandex"
        assert row["UsrMcbDctTerm"] == "купить диван" and row["UsrMcbDctTimeOnSite"] == 340
        assert row["UsrMcbDctCallType"] == "динамический" and row["UsrMcbDctNewUser"] is True
    assert person["OwnerId"] == ANNA and made["OwnerId"] == ANNA


# -- the Call card -------------------------------------------------------------------------------


def test_call_card_holds_direction_status_numbers_times_client_and_recordings(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    done = run(
        adapter,
        contact(),
        company(),
        log_call(recording_ids=("rec-1", "rec-2"), related_keys=("create_contact", "create_company")),
        links=LINKS,
    )
    call = one(bpm.rows("Call"))
    person = one([c for c in bpm.rows("Contact") if c["Name"] == AUTO])
    assert call["DirectionId"] == INCOMING
    assert call["UsrMcbCallStatusId"] == STATUS["Принят успешно"]
    assert (call["CallerId"], call["CalledId"]) == ("79161112233", "74951234567")  # the line dialled
    assert call["StartDate"] == "2026-03-05T08:40:00Z" and call["EndDate"] == "2026-03-05T08:41:35Z"
    assert (call["Duration"], call["TalkTime"]) == (95, 95)
    assert call["IntegrationId"] == "leg-1" and call["ParentCallId"] is None
    assert call["ContactId"] == person["Id"] and call["AccountId"] == one(bpm.rows("Account"))["Id"]
    assert call["UsrMcbRecordLinks"].split("\n") == [LINKS["rec-1"].url, LINKS["rec-2"].url]
    assert call["OwnerId"] == BORIS and call["UsrMcbLine"] == "74951234567"
    assert call["CreatedById"]  # «Создал»: the integration's API user
    assert "«Принят успешно»" in done["log_call:leg-1"].detail


def test_missed_and_outgoing_calls_have_their_own_status_and_direction(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    run(
        adapter,
        log_call(key="log_call:a", result="missed", duration_seconds=0, talk_leg_ids=(), recording_ids=()),
        log_call(
            key="log_call:b",
            direction="outgoing",
            result="not_reached",
            duration_seconds=0,
            talk_leg_ids=("b",),
            recording_ids=(),
        ),
    )
    calls = {c["IntegrationId"]: c for c in bpm.rows("Call")}
    assert calls["a"]["UsrMcbCallStatusId"] == STATUS["Пропущенный"] and calls["a"]["TalkTime"] == 0
    assert calls["b"]["UsrMcbCallStatusId"] == STATUS["Недозвон"] and calls["b"]["DirectionId"] == OUTGOING
    assert (calls["b"]["CallerId"], calls["b"]["CalledId"]) == ("74951234567", "79161112233")


def test_a_transfer_is_two_calls_the_second_pointing_at_the_first(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    run(
        adapter,
        log_call(),
        log_call(
            key="log_call:leg-2",
            talk_leg_ids=("leg-2",),
            employee_extension="101",
            responsible_user_id=ANNA,
            recording_ids=("rec-2",),
        ),
        links=LINKS,
    )
    calls = {c["IntegrationId"]: c for c in bpm.rows("Call")}
    assert calls["leg-2"]["ParentCallId"] == "leg-1"
    assert (
        calls["leg-2"]["UsrMcbRecordLinks"] == LINKS["rec-2"].url
        and calls["leg-1"]["UsrMcbRecordLinks"] == LINKS["rec-1"].url
    )


def test_repeat_call_is_filed_on_the_existing_contact_and_its_account(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    ids = bpm.seed(Account=[{"Name": "ООО Ромашка"}])
    ivan = bpm.seed(
        Contact=[
            {"Name": "Иван", "MobilePhone": KNOWN_NUMBER, "AccountId": ids["Account"][0], "OwnerId": ANNA}
        ]
    )["Contact"][0]
    customer = EntityRef(kind="contact", id=ivan, name="Иван")
    repeat = lead(
        customer=customer, related_keys=(), name="Иван", need_type=NEED["Сервис"], stage="Распределение"
    )
    run(adapter, repeat, log_call(phone=KNOWN_NUMBER, customer=customer, related_keys=("create_lead",)))
    call, made = one(bpm.rows("Call")), one(bpm.rows("Lead"))
    assert (call["ContactId"], call["AccountId"], call["LeadId"]) == (ivan, ids["Account"][0], made["Id"])
    assert made["QualifiedContactId"] == ivan and made["Contact"] == "Иван"
    assert made["LeadTypeId"] == NEED["Сервис"] and made["QualifyStatusId"] == STAGE["Распределение"]


# -- speech analytics, quality score, manual binding ---------------------------------------------


def test_annotations_fill_the_speech_analytics_and_quality_tabs_once(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    record = run(adapter, log_call())["log_call:leg-1"]
    phrases = (
        TranscriptPhrase(speaker="operator", name="Борис", text="Добрый день."),
        TranscriptPhrase(speaker="client", name="Клиент", text="Добрый день."),
    )
    topics = CallAnnotation(
        key="topics:rec-1",
        recording_id="rec-1",
        topics=("Сотрудник поздоровался", "Сотрудник упомянул акции"),
    )
    text = CallAnnotation(key="texts:rec-1", recording_id="rec-1", transcript=phrases)
    for annotation in (topics, text, text, CallAnnotation(key="quality", quality_score=5)):
        adapter.annotate(record, annotation)
    adapter.annotate(
        record,
        CallAnnotation(
            key="topics:rec-2", recording_id="rec-2", topics=("Сотрудник поздоровался", "Слова паразиты")
        ),
    )
    call = one(bpm.rows("Call"))
    assert call["UsrMcbTopics"] == "Сотрудник поздоровался; Сотрудник упомянул акции; Слова паразиты"
    assert call["UsrMcbTranscript"] == '[запись rec-1]\n"Сотрудник": "Добрый день."\n"Клиент": "Добрый день."'
    assert call["UsrMcbQualityScore"] == 5


def test_rebind_moves_the_call_to_the_chosen_contact_and_its_account(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    account = bpm.seed(Account=[{"Name": "ООО Второй"}])["Account"][0]
    first, second = bpm.seed(
        Contact=[
            {"Name": "Первый", "MobilePhone": KNOWN_NUMBER},
            {"Name": "Второй", "MobilePhone": KNOWN_NUMBER, "AccountId": account},
        ]
    )["Contact"]
    record = run(adapter, log_call(phone=KNOWN_NUMBER, customer=EntityRef(kind="contact", id=first)))[
        "log_call:leg-1"
    ]
    rebound = adapter.rebind(record, EntityRef(kind="contact", id=second, name="Второй"))
    call = one(bpm.rows("Call"))
    assert (call["ContactId"], call["AccountId"]) == (second, account)
    assert [(r.kind, r.id) for r in rebound.refs] == [("contact", second), ("company", account)]


# -- login, session, errors ----------------------------------------------------------------------


def test_login_sends_cookies_and_the_csrf_header_and_logs_in_again_once_when_the_session_ends(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    adapter.facts(NEW_NUMBER)
    assert adapter.client.logins == 1
    bpm.add_fault({"expire_sessions": True})
    run(adapter, contact())
    assert adapter.client.logins == 2
    statuses = [r.status for r in bpm.requests if r.path == "/0/odata/Contact"]
    assert statuses == [401, 201]


def test_csrf_token_handed_out_only_by_the_application_page_is_fetched(bpm: BpmSoftSandbox) -> None:
    bpm.configure(csrf_on_root=True)
    client = client_for(bpm)
    assert BpmSoftAdapter(client).facts(NEW_NUMBER).users
    assert [r.path for r in bpm.requests][:2] == ["/ServiceModel/AuthService.svc/Login", "/"]


def test_a_wrong_password_is_http_200_with_a_code_and_a_settings_problem(bpm: BpmSoftSandbox) -> None:
    adapter = BpmSoftAdapter(client_for(bpm, password="wrong"))
    with pytest.raises(BadSettings, match="Неверное имя пользователя или пароль"):
        adapter.facts(NEW_NUMBER)
    check = adapter.check_connection()
    assert not check.ok and check.message.startswith("Некорректные авторизационные данные")


def test_connection_check_in_plain_words(bpm: BpmSoftSandbox) -> None:
    check = BpmSoftAdapter(client_for(bpm, address=f" {bpm.url.upper()}/0/ ")).check_connection()
    assert check.ok and check.message.startswith("Авторизационные данные корректны")
    assert "пакет UsrMcbMangoBridge установлен" in check.message
    bpm.reset(app_installed=False)
    check = BpmSoftAdapter(client_for(bpm)).check_connection()
    assert check.ok and "не установлен" in check.message  # a working instance is never «not installed»
    bpm.add_fault({"outage": True})
    check = BpmSoftAdapter(client_for(bpm)).check_connection()
    assert not check.ok and "не отвечает" in check.message


def test_429_is_rate_limited_5xx_and_refused_connections_are_unavailable_400_is_rejected(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    adapter.facts(NEW_NUMBER)
    bpm.add_fault({"status": 429, "path": "0/odata/Contact"})
    with pytest.raises(CrmRateLimited) as limited:
        run(adapter, contact())
    assert limited.value.retry_after == 1.0
    bpm.add_fault({"status": 503, "path": "0/odata/Contact"})
    with pytest.raises(CrmUnavailable):
        run(adapter, contact())
    with pytest.raises(CrmRejected, match="no 'Contact' with Id"):
        run(adapter, log_call(customer=EntityRef(kind="contact", id=sandbox_id("nobody"))))
    bpm.stop()
    with pytest.raises(CrmUnavailable):
        BpmSoftAdapter(client_for(bpm)).facts(NEW_NUMBER)


def test_columns_missing_from_metadata_are_skipped_and_said(bpm: BpmSoftSandbox) -> None:
    bpm.reset(drop_columns={"Call": ["UsrMcbQualityScore", "LeadId"], "Contact": ["UsrMcbLine"]})
    bpm.seed(users=USERS)
    adapter = BpmSoftAdapter(client_for(bpm)).for_call(ENTRY)
    done = run(adapter, contact(source_line="74951234567"), log_call(related_keys=("create_contact",)))
    assert "skipped, this BPMSoft has no column Contact «Название линии»" in done["create_contact"].detail
    noted = adapter.annotate(done["log_call:leg-1"], CallAnnotation(key="quality", quality_score=4))
    assert "Call.UsrMcbQualityScore" in noted.detail
    assert one(bpm.rows("Call"))["ContactId"] == done["create_contact"].refs[0].id


def test_net8_deployments_are_found_at_odata_without_the_zero(bpm: BpmSoftSandbox) -> None:
    bpm.configure(net8=True)
    adapter = BpmSoftAdapter(client_for(bpm)).for_call(ENTRY)
    run(adapter, contact())
    assert adapter.client.odata_root() == "/odata"
    assert one([c for c in bpm.rows("Contact") if c["Name"] == AUTO])


def test_the_address_is_trimmed_lower_cased_and_understood() -> None:
    assert normalise_base_url(" HTTPS://Company.BPMSoft.ru/ ") == ("https://company.bpmsoft.ru", None)
    assert normalise_base_url("https://company.bpmsoft.ru/0") == ("https://company.bpmsoft.ru", "/0/odata")
    assert normalise_base_url("company.bpmsoft.ru/odata") == ("https://company.bpmsoft.ru", "/odata")
    with pytest.raises(BadSettings):
        normalise_base_url("ftp://x")


def test_the_nightly_sync_finds_a_call_card_someone_deleted(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    """Seed 000, F30: «Имеющиеся звонки в BPMSoft будут сверяться со звонками в ВАТС» — by the Call ids
    the bridge wrote, in batches."""
    done = run(adapter, contact(), log_call(related_keys=("create_contact",)), links=LINKS)
    records = [(ENTRY, done["log_call:leg-1"]), (ENTRY, Executed(key="log_call:never-written"))]
    assert adapter.missing_records(records) == {(ENTRY, "log_call:never-written")}
    for row in bpm.rows("Call"):
        bpm.store.delete("Call", row["Id"])  # a user deleted the call card
    assert adapter.missing_records(records) == {(ENTRY, "log_call:leg-1"), (ENTRY, "log_call:never-written")}
