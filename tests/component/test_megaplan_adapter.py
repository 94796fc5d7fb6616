"""The Megaplan adapter against the Megaplan sandbox in-process: what it finds, what it writes, how it
fails (429, 5xx, an expired token, a wrong password, a validation error) and how retries stay single."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mango_bridge.calls.visitor import Visitor
from mango_bridge.crm.errors import BadSettings, CrmRateLimited, CrmRejected, CrmUnavailable
from mango_bridge.crm.megaplan import Credentials, MegaplanAdapter, MegaplanClient, normalise_base_url
from mango_bridge.crm.port import CallAnnotation, Executed, RecordingLink, TranscriptPhrase
from mango_bridge.policy.facts import EntityRef
from mango_bridge.policy.intents import (
    CreateCompany,
    CreateContact,
    CreateDeal,
    CreateLead,
    LogCall,
    SaveCallTracking,
    UpdateResponsible,
)
from mango_bridge.policy.responsibles import first_usable_responsible
from sandbox.crm.megaplan import DEFAULT_LOGIN, DEFAULT_PASSWORD, MegaplanSandbox
from sandbox.crm.megaplan.server import envelope
from sandbox.crm.megaplan.store import Invalid, problem

ENTRY = "MToxMDE4NTg2OTkxOTowMDE="
NEW = "+74951234567"
NAME = "Новый (16:30 05.03.2018, входящий вызов)"
LINKS = {
    "rec-1": RecordingLink(recording_id="rec-1", url="https://bridge.test/r/rec-1?sig=a"),
    "rec-2": RecordingLink(recording_id="rec-2", url="https://bridge.test/r/rec-2?sig=b"),
}


@pytest.fixture
def mp() -> Iterator[MegaplanSandbox]:
    with MegaplanSandbox(port=0) as sandbox:
        yield sandbox


@pytest.fixture
def adapter(mp: MegaplanSandbox) -> Iterator[MegaplanAdapter]:
    client = MegaplanClient(mp.url, Credentials(DEFAULT_LOGIN, DEFAULT_PASSWORD))
    yield MegaplanAdapter(client, sleep=lambda _: None).for_call(ENTRY)
    client.close()


def contact(**overrides: Any) -> CreateContact:
    fields: dict[str, Any] = {
        "key": "create_contact",
        "reason": "test",
        "responsible_user_id": "8000001",
        "name": NAME,
        "phone": NEW,
        "source_line": None,
    }
    return CreateContact(**{**fields, **overrides})


def log_call(**overrides: Any) -> LogCall:
    fields: dict[str, Any] = {
        "key": "log_call:leg-1",
        "reason": "test",
        "direction": "incoming",
        "result": "answered",
        "started_at": 1_700_000_000,
        "duration_seconds": 95,
        "responsible_user_id": "8000001",
        "bound_by": "employee",
        "employee_extension": "101",
        "talk_leg_ids": ("leg-1",),
        "leg_ids": ("leg-1",),
        "recording_ids": ("rec-1", "rec-2"),
        "line_number": "74950000000",
        "phone": NEW,
        "customer": None,
        "related_keys": (),
    }
    return LogCall(**{**fields, **overrides})


def api_requests(mp: MegaplanSandbox, method: str, path: str) -> list[Any]:
    return [r for r in mp.requests if r.method == method and r.path == path and not r.fault]


# -- facts -----------------------------------------------------------------------------------------


def test_facts_find_clients_by_the_last_ten_digits_in_megaplans_order_with_usable_responsibles(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    (company,) = mp.seed(
        {
            "contractors": [
                {"contentType": "ContractorCompany", "name": "ООО Ромашка", "phones": ["8 (916) 123-45-67"]}
            ]
        }
    )["contractors"]
    (person,) = mp.seed(
        {
            "contractors": [
                {
                    "firstName": "Иван",
                    "lastName": "Петров",
                    "phones": ["+7 916 123-45-67"],
                    "responsible_ids": [
                        {"contentType": "ContractorCompany", "id": company},
                        "8000004",
                        "8000002",
                        "8000003",
                    ],
                }
            ]
        }
    )["contractors"]
    mp.seed(
        {
            "contractors": [
                {"firstName": "Не тот", "description": "9161234567", "phones": ["+7 999 000-00-00"]}
            ]
        }
    )
    facts = adapter.facts("+79161234567")
    assert [(f.kind, f.id) for f in facts.found] == [("company", company), ("contact", person)]
    found = facts.found[1]
    assert found.responsible_user_ids == (f"ContractorCompany:{company}", "8000004", "8000002", "8000003")
    assert first_usable_responsible(found, facts) == "8000002"  # a client and a dismissed one are skipped
    assert "8000004" not in {u.id for u in facts.users}  # F43: dismissed employees are not offered
    assert next(u for u in facts.users if u.id == f"ContractorCompany:{company}").is_client
    assert found.fields["phone"] == "+7 916 123-45-67"
    (search,) = api_requests(mp, "GET", "/api/v3/contractor")
    assert search.query == {"q": "9161234567", "limit": 100}  # JSON in the query string


def test_facts_carry_open_deals_only(mp: MegaplanSandbox, adapter: MegaplanAdapter) -> None:
    (busy, idle) = mp.seed(
        {"contractors": [{"firstName": "A", "phones": [NEW]}, {"firstName": "B", "phones": ["+74957654321"]}]}
    )["contractors"]
    (open_deal, _won) = mp.seed(
        {
            "deals": [
                {"contractor_id": busy, "state_id": "9100002"},
                {"contractor_id": busy, "state_id": "9100003"},
            ]
        }
    )["deals"]
    mp.seed({"deals": [{"contractor_id": idle, "state_id": "9100004"}]})
    assert adapter.facts(NEW).found[0].open_deal_ids == (open_deal,)
    assert adapter.facts("+74957654321").found[0].has_open("deal") is False


def test_users_come_from_every_page(mp: MegaplanSandbox, adapter: MegaplanAdapter) -> None:
    mp.seed({"employees": [{"id": str(8100000 + i), "firstName": f"Сотрудник {i}"} for i in range(150)]})
    users = adapter.users()
    assert len(users) == 153  # three default working employees + 150, over two pages
    pages = api_requests(mp, "GET", "/api/v3/employee")
    assert len(pages) == 2 and pages[1].query["pageAfter"]["contentType"] == "Employee"


# -- writes ----------------------------------------------------------------------------------------


def test_new_client_gets_the_phone_responsible_and_source_line_field(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    outcome = adapter.execute(contact(source_line="74950000000"), {}, {})
    (client,) = mp.state()["contractors"]
    assert outcome.refs == (EntityRef(kind="contact", id=client["id"], name=NAME),)
    assert client["name"] == NAME
    assert [(i["type"], i["value"]) for i in client["contactInfo"]] == [("phone", NEW)]
    assert [r["id"] for r in client["responsibles"]] == ["8000001"]
    (field,) = mp.state()["extra_fields"]
    assert field["hrName"] == "Номер линии MANGO OFFICE" and client[field["name"]] == "74950000000"


def test_company_with_its_person(mp: MegaplanSandbox, adapter: MegaplanAdapter) -> None:
    person = adapter.execute(contact(), {}, {})
    company = adapter.execute(
        CreateCompany(
            key="create_company",
            reason="t",
            responsible_user_id="8000002",
            name=NAME,
            phone=NEW,
            contact_key="create_contact",
        ),
        {"create_contact": person},
        {},
    )
    held = {c["id"]: c for c in mp.state()["contractors"]}
    assert held[person.refs[0].id]["company"]["id"] == company.refs[0].id
    assert held[company.refs[0].id]["contentType"] == "ContractorCompany"


def test_deal_in_the_chosen_program_and_status_for_the_new_client(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    client = adapter.execute(contact(), {}, {})
    deal = CreateDeal(
        key="create_deal",
        reason="t",
        responsible_user_id="8000002",
        name=NAME,
        phone=NEW,
        program="Продажи",
        status="9100002",
        related_keys=("create_contact",),
    )
    outcome = adapter.execute(deal, {"create_contact": client}, {})
    (held,) = mp.state()["deals"]
    assert outcome.refs[0].id == held["id"]
    assert (held["program"]["id"], held["state"]["name"], held["manager"]["id"]) == (
        "9000001",
        "Переговоры",
        "8000002",
    )
    assert held["contractor"]["id"] == client.refs[0].id
    assert len(api_requests(mp, "POST", f"/api/v3/deal/{held['id']}/applyTransition")) == 1


def test_unknown_program_or_status_is_bad_settings_naming_what_exists(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    deal = CreateDeal(
        key="create_deal",
        reason="t",
        responsible_user_id="8000001",
        name=NAME,
        phone=NEW,
        program="Склад",
        status=None,
    )
    with pytest.raises(BadSettings, match="Продажи"):
        adapter.execute(deal, {}, {})
    with pytest.raises(BadSettings, match="Переговоры"):
        adapter.execute(deal.model_copy(update={"program": "9000001", "status": "Нет такого"}), {}, {})
    with pytest.raises(BadSettings, match="no leads"):
        adapter.execute(
            CreateLead(key="create_lead", reason="t", responsible_user_id="8000001", name=NAME, phone=NEW),
            {},
            {},
        )


def test_update_responsible_moves_the_client_and_the_deal(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    client = adapter.execute(contact(), {}, {})
    deal = adapter.execute(
        CreateDeal(
            key="create_deal",
            reason="t",
            responsible_user_id="8000001",
            name=NAME,
            phone=NEW,
            program="9000001",
            related_keys=("create_contact",),
        ),
        {"create_contact": client},
        {},
    )
    done = {"create_contact": client, "create_deal": deal}
    adapter.execute(
        UpdateResponsible(
            key="update_responsible",
            reason="t",
            targets=("create_contact", "create_deal"),
            responsible_user_id="8000003",
        ),
        done,
        {},
    )
    state = mp.state()
    assert [r["id"] for r in state["contractors"][0]["responsibles"]] == ["8000003"]
    assert state["deals"][0]["manager"]["id"] == "8000003"


def test_call_tracking_creates_the_dkt_fields_once_and_fills_them(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    client = adapter.execute(contact(), {}, {})
    visitor = Visitor(
        tracking_number="74957770011", client_id="cid-1", utm_source="yandex", city="Москва", new_visitor=True
    )
    intent = SaveCallTracking(
        key="save_call_tracking",
        reason="t",
        targets=("create_contact",),
        tracking_number="74957770011",
        number_type="dynamic",
        visitor=visitor,
    )
    adapter.execute(intent, {"create_contact": client}, {})
    adapter.execute(intent, {"create_contact": client}, {})  # a retry creates no second set of fields
    state = mp.state()
    names = {f["name"]: f["hrName"] for f in state["extra_fields"]}
    assert len(names) == len(set(names.values())) == 20  # the number + the 19 visitor fields
    values = {names[k]: v for k, v in state["contractors"][0].items() if k in names}
    assert values == {
        "ДКТ: number": "74957770011",
        "ДКТ: client_id": "cid-1",
        "ДКТ: utm_source": "yandex",
        "ДКТ: city": "Москва",
        "ДКТ: new_visitor": "да",
        "ДКТ: number_type": "динамический",
    }


def test_call_is_a_finished_callinfo_with_every_recording_and_a_retry_adds_nothing(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    client = adapter.execute(contact(), {}, {})
    intent = log_call(related_keys=("create_contact",))
    first = adapter.execute(intent, {"create_contact": client}, LINKS)
    again = adapter.execute(intent, {"create_contact": client}, LINKS)
    (call,) = mp.state()["calls"]
    assert first.refs == again.refs == client.refs
    assert call["providerId"] == f"{ENTRY}:log_call:leg-1"
    assert (call["fromPhone"], call["toPhone"], call["type"], call["state"]) == (
        NEW,
        "74950000000",
        "in",
        "finished",
    )
    assert call["fromUser"]["id"] == client.refs[0].id and call["toUser"] == {
        "contentType": "Employee",
        "id": "8000001",
    }
    assert call["recordLinks"] == [LINKS["rec-1"].url, LINKS["rec-2"].url]
    assert call["timeFrom"] == "2023-11-14T22:13:20+00:00"
    assert len(api_requests(mp, "GET", "/api/v3/callInfo/history")) == 1  # the probe, once
    assert len(api_requests(mp, "GET", "/api/v3/callInfo/provider")) == 2  # a look before each write
    assert len(api_requests(mp, "POST", "/api/v3/callInfo/history")) == 1


def test_without_telephony_the_call_and_its_analytics_are_comments_on_the_client(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    mp.store.telephony = False
    mp.store.contractor_comments = True  # as documented; real accounts answer 500 (see below)
    client = adapter.execute(contact(), {}, {})
    record = adapter.execute(log_call(related_keys=("create_contact",)), {"create_contact": client}, LINKS)
    adapter.execute(log_call(related_keys=("create_contact",)), {"create_contact": client}, LINKS)
    annotation = CallAnnotation(
        key="topics:rec-1",
        topics=("Доставка", "Цена"),
        transcript=(TranscriptPhrase(speaker="client", name="Клиент", text="Сколько стоит?"),),
        quality_score=9,
    )
    adapter.annotate(record, annotation)
    adapter.annotate(record, annotation)
    call_comment, analytics = mp.state()["comments"]
    assert "Входящий звонок" in call_comment["content"] and "Анна Смирнова" in call_comment["content"]
    assert call_comment["content"].count('href="https://bridge.test/r/') == 2
    assert "Доставка, Цена" in analytics["content"] and "Оценка качества: 9" in analytics["content"]
    assert "Клиент: Сколько стоит?" in analytics["content"]
    assert mp.state()["calls"] == []


def test_without_telephony_and_without_a_client_nothing_is_written(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    mp.store.telephony = False
    outcome = adapter.execute(log_call(), {}, LINKS)
    assert outcome.refs == () and "not logged" in outcome.detail
    assert adapter.annotate(outcome, CallAnnotation(key="topics:x", topics=("A",))).refs == ()


def test_a_lost_answer_does_not_create_the_client_twice(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    first = adapter.execute(contact(), {}, {})
    second = adapter.execute(contact(), {}, {})  # the workflow re-runs it after losing the answer
    assert first.refs == second.refs and len(mp.state()["contractors"]) == 1


# -- failures ------------------------------------------------------------------------------------


def test_429_is_rate_limited_and_5xx_or_an_outage_is_unavailable(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    adapter.users()
    mp.faults.add({"status": 429, "path": "api/v3/contractor"})
    with pytest.raises(CrmRateLimited):
        adapter.facts(NEW)
    mp.faults.add({"status": 502})
    with pytest.raises(CrmUnavailable, match="502"):
        adapter.execute(contact(), {}, {})
    mp.faults.add({"outage": True})
    with pytest.raises(CrmUnavailable):
        adapter.facts(NEW)
    mp.faults.clear()
    assert adapter.facts(NEW).found == ()


def test_an_expired_token_is_refreshed_once_and_the_request_repeated(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    adapter.users()
    mp.expire_tokens()
    adapter.execute(contact(), {}, {})
    grants = [r for r in mp.requests if r.path == "/api/v3/auth/access_token"]
    assert len(grants) == 2 and len(mp.state()["contractors"]) == 1


def test_a_refused_refresh_falls_back_to_the_password(mp: MegaplanSandbox, adapter: MegaplanAdapter) -> None:
    adapter.users()
    mp.expire_tokens()
    mp._refresh.clear()  # Megaplan forgot the refresh token too
    assert adapter.execute(contact(), {}, {}).refs


def test_a_wrong_password_is_bad_settings_and_the_check_says_so(mp: MegaplanSandbox) -> None:
    client = MegaplanClient(mp.url, Credentials(DEFAULT_LOGIN, "wrong"))
    with pytest.raises(BadSettings, match="login and password"):
        MegaplanAdapter(client).facts(NEW)
    check = MegaplanAdapter(client).check_connection()
    assert not check.ok and "логин или пароль" in check.message


def test_connection_check_in_plain_words(mp: MegaplanSandbox, adapter: MegaplanAdapter) -> None:
    ok = adapter.check_connection()
    assert ok.ok and "телефонии Мегаплана" in ok.message
    down = MegaplanAdapter(
        MegaplanClient("http://127.0.0.1:9", Credentials(DEFAULT_LOGIN, DEFAULT_PASSWORD))
    ).check_connection()
    assert not down.ok and "не отвечает" in down.message


def test_a_validation_error_is_rejected_with_megaplans_words(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    with pytest.raises(CrmRejected, match=r"contactInfo: Неверный номер телефона"):
        adapter.execute(contact(phone="12"), {}, {})
    with pytest.raises(CrmRejected, match="responsibles"):
        adapter.execute(contact(responsible_user_id="9999999", phone="+74950001122"), {}, {})


def test_a_failed_transition_is_reported_not_raised(mp: MegaplanSandbox, adapter: MegaplanAdapter) -> None:
    client = adapter.execute(contact(), {}, {})
    mp.faults.add({"status": 503, "path": "api/v3/deal/", "count": 5})
    deal = CreateDeal(
        key="create_deal",
        reason="t",
        responsible_user_id="8000001",
        name=NAME,
        phone=NEW,
        program="9000001",
        status="Переговоры",
        related_keys=("create_contact",),
    )
    mp.faults.clear()
    mp.faults.add({"status": 503, "path": "api/v3/deal/1", "count": 5})
    outcome = adapter.execute(deal, {"create_contact": client}, {})
    assert "failed" in outcome.detail and len(mp.state()["deals"]) == 1


def test_addresses_are_normalised() -> None:
    assert normalise_base_url(" https://Company.Megaplan.ru/crm/ ") == "https://company.megaplan.ru"
    assert normalise_base_url("company") == "https://company.megaplan.ru"
    with pytest.raises(BadSettings):
        normalise_base_url("  ")


def test_executed_refs_are_what_annotate_needs() -> None:
    record = Executed(key="log_call:x", refs=(EntityRef(kind="company", id="5"),))
    assert record.refs[0].kind == "company"


# -- what the v3 docs and real accounts say (docs/crm/megaplan.md, «Sources») ------------------------


def deal_intent(**overrides: Any) -> CreateDeal:
    who = {"key": "create_deal", "reason": "repeat call", "responsible_user_id": "8000002", "phone": NEW}
    what = {"name": "Постоянный Клиент", "program": "9000001", "status": "9100001", "customer": None}
    return CreateDeal(**{**who, **what, "related_keys": (), **overrides})


def test_repeat_deal_retry_finds_its_own_deal_by_marker_never_one_merely_alike(mp: MegaplanSandbox) -> None:
    (known,) = mp.seed({"contractors": [{"firstName": "Клиент", "lastName": "Постоянный", "phones": [NEW]}]})[
        "contractors"
    ]
    customer = EntityRef(kind="contact", id=known)
    client = MegaplanClient(mp.url, Credentials(DEFAULT_LOGIN, DEFAULT_PASSWORD))
    base = MegaplanAdapter(client, sleep=lambda _: None)
    first = base.for_call("entry-1").execute(deal_intent(customer=customer), {}, {})
    mp.store.apply_transition(first.refs[0].id, mp.store.transitions[("9100001", "9100003")])  # won
    again = base.for_call("entry-1").execute(deal_intent(customer=customer), {}, {})  # a lost answer
    second = base.for_call("entry-2").execute(deal_intent(customer=customer), {}, {})  # the next call
    deals = {d["id"]: d for d in mp.state()["deals"]}
    assert again.refs == first.refs and second.refs != first.refs and len(deals) == 2
    assert deals[first.refs[0].id]["state"]["id"] == "9100003"  # never reopened
    assert "[mango:deal:" in deals[second.refs[0].id]["description"]
    client.close()


def test_an_account_without_the_call_history_gets_one_finished_callinfo(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    mp.store.call_history = False
    client = adapter.execute(contact(), {}, {})
    intent = log_call(related_keys=("create_contact",))
    adapter.execute(intent, {"create_contact": client}, LINKS)
    adapter.execute(intent, {"create_contact": client}, LINKS)
    (call,) = mp.state()["calls"]
    assert call["state"] == "finished"
    assert len(api_requests(mp, "POST", "/api/v3/callInfo")) == 1
    assert "истории звонков в этой версии нет" in adapter.check_connection().message


def test_a_provider_lookup_answering_another_call_is_not_taken_for_ours(
    mp: MegaplanSandbox, adapter: MegaplanAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = adapter.execute(contact(), {}, {})
    adapter.execute(log_call(related_keys=("create_contact",)), {"create_contact": client}, LINKS)
    (first,) = mp.state()["calls"]
    monkeypatch.setattr(mp, "_call_by_provider", lambda *_, **__: envelope(first))  # ignores the id
    other = log_call(key="log_call:leg-2", talk_leg_ids=("leg-2",), related_keys=("create_contact",))
    adapter.execute(other, {"create_contact": client}, LINKS)
    assert len(mp.state()["calls"]) == 2


def test_client_comments_answering_500_fall_back_to_the_clients_deal(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    mp.store.telephony = False  # and client comments answer 500, as on real accounts (sandbox default)
    (known,) = mp.seed({"contractors": [{"firstName": "A", "phones": [NEW]}]})["contractors"]
    (_won, open_deal) = mp.seed(
        {
            "deals": [
                {"contractor_id": known, "state_id": "9100003"},
                {"contractor_id": known, "state_id": "9100002"},
            ]
        }
    )["deals"]
    customer = EntityRef(kind="contact", id=known)
    record = adapter.execute(log_call(customer=customer), {}, LINKS)
    adapter.execute(log_call(customer=customer), {}, LINKS)
    (comment,) = mp.state()["comments"]
    assert comment["subject"] == {"contentType": "Deal", "id": open_deal}
    assert record.refs == (customer,) and f"deal {open_deal}" in record.detail
    lonely = EntityRef(kind="contact", id=mp.seed({"contractors": [{"firstName": "B"}]})["contractors"][0])
    nowhere = adapter.execute(log_call(customer=lonely, key="log_call:leg-9"), {}, LINKS)
    assert "not logged" in nowhere.detail and "no deal" in nowhere.detail


def test_extra_fields_are_per_kind_and_a_field_megaplan_refuses_does_not_cost_the_client(
    mp: MegaplanSandbox, adapter: MegaplanAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter.execute(contact(source_line="74950000000"), {}, {})
    (field,) = mp.store.fields_of("ContractorHuman")
    assert field["hrName"] == "Номер линии MANGO OFFICE" and mp.store.fields_of("ContractorCompany") == []
    assert api_requests(mp, "POST", "/api/v3/contractorHuman/extraFields/0")

    def refuse(entity: str, data: dict[str, Any]) -> Any:
        raise Invalid(problem("Нет прав на настройку полей"), status=403)

    monkeypatch.setattr(mp.store, "add_extra_field", refuse)
    company = {
        "key": "create_company",
        "kind": "create_company",
        "name": "ООО Ромашка",
        "phone": "+74950001122",
    }
    outcome = adapter.execute(
        CreateCompany(**{**contact(source_line="74950000000").model_dump(), **company}), {}, {}
    )
    assert outcome.refs and "add it in Megaplan's settings by hand" in outcome.detail
    assert any(c["contentType"] == "ContractorCompany" for c in mp.state()["contractors"])


def test_a_refused_deal_filter_falls_back_to_the_clients_deals_route(
    mp: MegaplanSandbox, adapter: MegaplanAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    (known,) = mp.seed({"contractors": [{"firstName": "A", "phones": [NEW]}]})["contractors"]
    (open_deal,) = mp.seed({"deals": [{"contractor_id": known, "state_id": "9100002"}]})["deals"]

    def refuse(terms: Any) -> Any:
        raise Invalid(problem("Фильтр не поддерживается", "filter"))

    monkeypatch.setattr(mp.store, "deals_for", refuse)
    monkeypatch.setattr(mp.store, "deals_of", lambda _id: [mp.store._deal_view(mp.store.deals[open_deal])])
    assert adapter.facts(NEW).found[0].open_deal_ids == (open_deal,)
    assert api_requests(mp, "GET", f"/api/v3/contractor/{known}/deals")


def test_connection_check_answers_feature_by_feature(mp: MegaplanSandbox, adapter: MegaplanAdapter) -> None:
    ok = adapter.check_connection()
    assert "истории звонков" in ok.message and "дополнительные поля доступны" in ok.message
    assert {r.method for r in mp.requests if "/auth/" not in r.path} == {"GET"}  # read-only
    mp.store.telephony = False
    mp.seed({"contractors": [{"firstName": "A"}]})
    fresh = MegaplanAdapter(MegaplanClient(mp.url, Credentials(DEFAULT_LOGIN, DEFAULT_PASSWORD)))
    message = fresh.check_connection().message
    assert "телефонии в этом Мегаплане нет" in message and "комментарием к сделке" in message


def test_a_list_refusing_the_extra_fields_is_asked_again_without_them(
    mp: MegaplanSandbox, adapter: MegaplanAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """megaplan-sdk: list endpoints answer a `fields` name they do not know with 422."""
    (known,) = mp.seed({"contractors": [{"firstName": "A", "phones": [NEW]}]})["contractors"]
    customer = EntityRef(kind="contact", id=known)
    first = adapter.execute(deal_intent(customer=customer), {}, {})
    plain = mp._deals

    def picky(request: Any, *, query: dict[str, Any], body: Any) -> Any:
        if request.method == "GET" and "description" in (query.get("fields") or []):
            raise Invalid(problem("Поле description не найдено", "fields"))
        return plain(request, query=query, body=body)

    monkeypatch.setattr(mp, "_deals", picky)
    again = adapter.execute(deal_intent(customer=customer), {}, {})  # the same call, retried
    assert again.refs == first.refs and len(mp.state()["deals"]) == 1


def test_the_nightly_sync_finds_a_call_someone_deleted_by_its_provider_id(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    """F30 against what Megaplan holds: a written call is looked up by the `providerId` we gave it."""
    client = adapter.execute(contact(), {}, {})
    written = adapter.execute(log_call(related_keys=("create_contact",)), {"create_contact": client}, LINKS)
    records = [(ENTRY, written), (ENTRY, Executed(key="log_call:never-written"))]
    assert adapter.missing_records(records) == {(ENTRY, "log_call:never-written")}
    with mp.store.lock:
        mp.store.calls.clear()  # a user deleted the call
    assert adapter.missing_records(records) == {(ENTRY, written.key), (ENTRY, "log_call:never-written")}


def test_a_late_recording_is_added_to_the_written_call_through_the_call_history(
    mp: MegaplanSandbox, adapter: MegaplanAdapter
) -> None:
    client = adapter.execute(contact(), {}, {})
    written = adapter.execute(log_call(related_keys=("create_contact",)), {"create_contact": client}, {})
    late = RecordingLink(recording_id="rec-9", url="https://bridge.example/recordings/t/late")
    adapter.annotate(written, CallAnnotation(key="recording:rec-9", recordings=(late,)))
    (call,) = mp.state()["calls"]
    assert call["recordLinks"] == [late.url]
