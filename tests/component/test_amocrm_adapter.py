"""The amoCRM adapter against the amoCRM sandbox: what it finds, what it writes, how it fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mango_bridge.crm.amocrm import (
    AmoCrmAdapter,
    AmoCrmClient,
    MemoryTokenStore,
    SecretsManagerTokenStore,
    Tokens,
    exchange_code,
    normalise_base_url,
)
from mango_bridge.crm.errors import BadSettings, CrmRateLimited, CrmRejected, CrmUnavailable
from mango_bridge.crm.port import Executed, RecordingLink
from mango_bridge.policy.facts import EntityRef
from mango_bridge.policy.intents import (
    CreateCompany,
    CreateContact,
    CreateDeal,
    CreateLead,
    CreateUnsortedLead,
    Intent,
    LogCall,
    SaveCallTracking,
    UpdateResponsible,
)
from mango_bridge.settings.model import CREATABLE, CrmKind
from sandbox.crm.amocrm import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    KNOWN_CLIENT_RESPONSIBLE_ID,
    AmoCrmSandbox,
)

ENTRY = "MToxMDE4NTg2OTkxOTowMDE="
NEW_NUMBER = "+74951234567"
KNOWN_NUMBER = "+79161234567"  # the sandbox's known client, stored as «+7 (916) 123-45-67»
ANNA, BORIS, VERA, GRIGORY = "8000001", "8000002", "8000003", "8000004"
MAIN_PIPELINE, NEGOTIATION = 9_000_001, 9_100_003
RECORDINGS = {
    "rec-1": RecordingLink(recording_id="rec-1", url="https://bridge.test/r/rec-1?sig=a"),
    "rec-2": RecordingLink(recording_id="rec-2", url="https://bridge.test/r/rec-2?sig=b"),
}


@pytest.fixture
def amo() -> Iterator[AmoCrmSandbox]:
    with AmoCrmSandbox(port=0) as sandbox:
        yield sandbox


def oauth_tokens(amo: AmoCrmSandbox, **overrides: Any) -> Tokens:
    pair = amo.issue_tokens()
    fields: dict[str, Any] = {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_at": time.time() + pair.expires_in,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "redirect_uri": DEFAULT_REDIRECT_URI,
        "base_url": amo.url,
    }
    return Tokens(**{**fields, **overrides})


@pytest.fixture
def store(amo: AmoCrmSandbox) -> MemoryTokenStore:
    return MemoryTokenStore(oauth_tokens(amo))


@pytest.fixture
def client(store: MemoryTokenStore) -> Iterator[AmoCrmClient]:
    api = AmoCrmClient(store)
    yield api
    api.close()


@pytest.fixture
def adapter(client: AmoCrmClient) -> AmoCrmAdapter:
    return AmoCrmAdapter(client, sleep=lambda _: None).for_call(ENTRY)


def contact(**fields: Any) -> CreateContact:
    return CreateContact(
        key="create_contact",
        reason="test",
        responsible_user_id=fields.pop("responsible_user_id", BORIS),
        name="Новый (16:30 05.03.2026, входящий вызов)",
        phone=fields.pop("phone", NEW_NUMBER),
        **fields,
    )


def deal(**fields: Any) -> CreateDeal:
    return CreateDeal(
        key="create_deal",
        reason="test",
        responsible_user_id=BORIS,
        name="Новый (16:30 05.03.2026, входящий вызов)",
        phone=NEW_NUMBER,
        related_keys=fields.pop("related_keys", ("create_contact",)),
        **fields,
    )


def unsorted_lead() -> CreateUnsortedLead:
    """A missed call from NEW_NUMBER on the line +74950000000, for «Неразобранное»."""
    missed = {"name": "Новый (16:30 05.03.2026, пропущенный вызов)", "duration_seconds": 0}
    line = {"line_number": "+74950000000", "started_at": 1_772_717_400}
    return CreateUnsortedLead(
        key="create_unsorted", reason="test", responsible_user_id=BORIS, phone=NEW_NUMBER, **missed, **line
    )


def log_call(**fields: Any) -> LogCall:
    values: dict[str, Any] = {
        "key": "log_call:leg-1",
        "reason": "test",
        "direction": "incoming",
        "result": "answered",
        "started_at": 1_772_717_400,
        "duration_seconds": 95,
        "responsible_user_id": BORIS,
        "bound_by": "employee",
        "employee_extension": "101",
        "talk_leg_ids": ("leg-1",),
        "leg_ids": ("leg-1",),
        "recording_ids": (),
        "line_number": "+74950000000",
        "phone": NEW_NUMBER,
        "customer": None,
        "related_keys": (),
    }
    return LogCall(**{**values, **fields})


def run(adapter: AmoCrmAdapter, intents: list[Intent], done: dict[str, Executed]) -> dict[str, Executed]:
    """The workflow's part in miniature: an intent whose outcome is stored is never executed again."""
    for intent in intents:
        if intent.key not in done:
            done[intent.key] = adapter.execute(intent, done, RECORDINGS)
    return done


def api_requests(amo: AmoCrmSandbox, method: str | None = None, path: str | None = None) -> list[Any]:
    return [
        r
        for r in amo.requests
        if r.path.startswith("/api/")
        and (method is None or r.method == method)
        and (path is None or r.path == path)
    ]


def links_of(state: dict[str, Any], entity_type: str, entity_id: int) -> set[tuple[str, int]]:
    found = set()
    for link in state["links"]:
        if (link["entity_type"], link["entity_id"]) == (entity_type, entity_id):
            found.add((link["to_entity_type"], link["to_entity_id"]))
        if (link["to_entity_type"], link["to_entity_id"]) == (entity_type, entity_id):
            found.add((link["entity_type"], link["entity_id"]))
    return found


# -- facts ------------------------------------------------------------------------------------------


def test_a_new_number_has_no_records_and_the_directory_marks_inactive_users_blocked(
    adapter: AmoCrmAdapter,
) -> None:
    facts = adapter.facts(NEW_NUMBER)
    assert facts.is_new_number
    assert facts.phone == NEW_NUMBER
    assert {u.id for u in facts.users} == {ANNA, BORIS, VERA, GRIGORY}
    assert [u.id for u in facts.users if u.blocked] == [GRIGORY]


def test_the_known_client_is_found_with_its_responsible_and_open_deal(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    seeded = amo.seed(preset="known_client")
    same_number_company = amo.seed(companies=[{"name": "ИП Петров", "phones": ["8 (916) 123-45-67"]}])
    facts = adapter.facts(KNOWN_NUMBER)
    assert [(f.kind, f.id) for f in facts.found] == [
        ("contact", str(seeded["contacts"][0])),
        ("company", str(same_number_company["companies"][0])),
    ]
    client = facts.found[0]
    assert client.name == "Иван Петров"
    assert client.responsible_user_ids == (str(KNOWN_CLIENT_RESPONSIBLE_ID),)
    assert client.open_deal_ids == (str(seeded["leads"][0]),)
    assert client.has_open("deal")


def test_closed_deals_are_not_open(amo: AmoCrmSandbox, adapter: AmoCrmAdapter) -> None:
    ids = amo.seed(contacts=[{"name": "Ольга", "phones": [NEW_NUMBER]}])
    contact_id = ids["contacts"][0]
    amo.seed(
        leads=[
            {"name": "won", "pipeline_id": MAIN_PIPELINE, "status_id": 142, "contact_ids": [contact_id]},
            {"name": "lost", "pipeline_id": MAIN_PIPELINE, "status_id": 143, "contact_ids": [contact_id]},
        ]
    )
    (found,) = adapter.facts(NEW_NUMBER).found
    assert found.open_deal_ids == ()
    assert not found.has_open("deal")


def test_fuzzy_search_hits_without_the_number_are_dropped(
    amo: AmoCrmSandbox, client: AmoCrmClient, adapter: AmoCrmAdapter
) -> None:
    ids = amo.seed(
        contacts=[
            {"name": "Longer number", "phones": ["+7 (916) 123-45-678"]},
            {"name": "Digits in e-mail", "emails": ["9161234567@mail.test"]},
            {"name": "Digits in name 9161234567"},
            {"name": "The caller", "phones": ["8 916 123 45 67"]},
        ]
    )
    hits = client.get("/api/v4/contacts", {"query": "9161234567"})
    assert len(hits["_embedded"]["contacts"]) == 4  # amoCRM's query is a substring search
    facts = adapter.facts(KNOWN_NUMBER)
    assert [f.id for f in facts.found] == [str(ids["contacts"][3])]


def test_users_are_read_once_per_adapter(amo: AmoCrmSandbox, adapter: AmoCrmAdapter) -> None:
    adapter.facts(NEW_NUMBER)
    adapter.for_call("another-entry").facts(KNOWN_NUMBER)
    assert len(api_requests(amo, "GET", "/api/v4/users")) == 1


# -- writes -----------------------------------------------------------------------------------------


def test_new_client_contact_and_deal_hold_the_call_with_its_recordings(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    intents: list[Intent] = [
        contact(source_line="+74950000000"),
        deal(program="Воронка", status="Переговоры"),
        log_call(
            recording_ids=("rec-1", "rec-2", "rec-not-ready"), related_keys=("create_contact", "create_deal")
        ),
    ]
    done = run(adapter, intents, {})
    state = amo.state()

    (made,) = state["contacts"]
    assert made["responsible_user_id"] == int(BORIS)
    assert made["custom_fields_values"][0]["field_code"] == "PHONE"
    assert made["custom_fields_values"][0]["values"][0] == {
        "value": NEW_NUMBER,
        "enum_id": 700_001,
        "enum_code": "WORK",
    }
    assert made["_embedded"]["tags"][0]["name"] == "Линия +74950000000"
    (lead,) = state["leads"]
    assert (lead["pipeline_id"], lead["status_id"]) == (MAIN_PIPELINE, NEGOTIATION)
    assert links_of(state, "leads", lead["id"]) == {("contacts", made["id"])}
    assert done["create_contact"].refs == (EntityRef(kind="contact", id=str(made["id"]), name=made["name"]),)
    assert done["create_deal"].refs[0].id == str(lead["id"])

    (call,) = state["calls"]
    assert call["result"] == "stored" and (call["entity_type"], call["entity_id"]) == ("leads", lead["id"])
    assert call["uniq"] == f"{ENTRY}:log_call:leg-1"
    assert (call["direction"], call["call_status"], call["duration"]) == ("inbound", 4, 95)
    assert (call["responsible_user_id"], call["created_by"]) == (int(BORIS), int(BORIS))
    notes = {note["note_type"]: note for note in state["notes"] if note["entity_id"] == lead["id"]}
    assert notes["call_in"]["params"]["link"] == RECORDINGS["rec-1"].url
    assert notes["call_in"]["params"]["call_result"] == "Разговор состоялся"
    text = notes["common"]["params"]["text"]
    assert RECORDINGS["rec-1"].url in text and RECORDINGS["rec-2"].url in text
    assert done["log_call:leg-1"].refs == (EntityRef(kind="deal", id=str(lead["id"])),)
    assert "2 recording links" in done["log_call:leg-1"].detail


def test_a_company_is_linked_to_the_contact_created_with_it(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    company = CreateCompany(
        key="create_company",
        reason="test",
        responsible_user_id=BORIS,
        name="Новый (16:30 05.03.2026, входящий вызов)",
        phone=NEW_NUMBER,
        contact_key="create_contact",
    )
    done = run(adapter, [contact(), company, deal(related_keys=("create_contact", "create_company"))], {})
    state = amo.state()
    contact_id, company_id = int(done["create_contact"].refs[0].id), int(done["create_company"].refs[0].id)
    assert ("companies", company_id) in links_of(state, "contacts", contact_id)
    lead_id = int(done["create_deal"].refs[0].id)
    assert links_of(state, "leads", lead_id) == {("contacts", contact_id), ("companies", company_id)}


def test_a_repeat_call_deal_belongs_to_the_existing_client(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    seeded = amo.seed(preset="known_client")
    client_ref = EntityRef(kind="contact", id=str(seeded["contacts"][0]))
    done = run(adapter, [deal(customer=client_ref, related_keys=(), program=str(MAIN_PIPELINE))], {})
    lead_id = int(done["create_deal"].refs[0].id)
    assert links_of(amo.state(), "leads", lead_id) == {("contacts", seeded["contacts"][0])}


def test_an_unknown_caller_becomes_an_unsorted_incoming_lead_holding_the_call(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    unsorted = unsorted_lead()
    missed = log_call(result="missed", duration_seconds=0, related_keys=("create_unsorted",))
    done = run(adapter, [unsorted, missed], {})
    state = amo.state()

    (item,) = state["unsorted"]
    assert item["state"] == "pending" and item["category"] == "sip"
    assert item["metadata"]["uniq"] == ENTRY
    assert item["metadata"]["is_call_event_needed"] is False
    assert item["metadata"]["from"] == NEW_NUMBER and item["metadata"]["phone"] == "+74950000000"
    assert item["source_uid"] == f"{ENTRY}:create_unsorted" and item["source_name"] == "Mango Office"
    assert [r.kind for r in done["create_unsorted"].refs] == ["deal", "contact"]
    assert not state["calls"]  # amoCRM cannot match an unsorted contact by number: the note goes on the lead
    (note,) = [n for n in state["notes"] if n["entity_id"] == item["lead_id"]]
    assert note["note_type"] == "call_in"
    assert (note["params"]["call_status"], note["params"]["call_result"]) == (6, "Пропущенный звонок")

    again = adapter.execute(unsorted, {}, {})  # the first answer was lost: amoCRM refuses a repeat
    assert again.refs == done["create_unsorted"].refs
    assert len(amo.state()["unsorted"]) == 1


def test_responsible_passes_to_the_last_handler(amo: AmoCrmSandbox, adapter: AmoCrmAdapter) -> None:
    update = UpdateResponsible(
        key="update_responsible",
        reason="test",
        targets=("create_contact", "create_deal"),
        responsible_user_id=VERA,
    )
    run(adapter, [contact(), deal(), update], {})
    state = amo.state()
    assert [c["responsible_user_id"] for c in state["contacts"]] == [int(VERA)]
    assert [lead["responsible_user_id"] for lead in state["leads"]] == [int(VERA)]


def test_call_tracking_goes_in_a_note_on_the_new_deal(amo: AmoCrmSandbox, adapter: AmoCrmAdapter) -> None:
    tracking = SaveCallTracking(
        key="save_call_tracking",
        reason="test",
        targets=("create_contact", "create_deal"),
        tracking_number="+74957778899",
        number_type="dynamic",
    )
    done = run(adapter, [contact(), deal(), tracking], {})
    lead_id = int(done["create_deal"].refs[0].id)
    (note,) = [n for n in amo.state()["notes"] if n["entity_id"] == lead_id]
    assert note["note_type"] == "common"
    assert note["params"]["text"] == "Коллтрекинг: звонок на динамический номер +74957778899"


def test_an_outgoing_call_to_a_known_client_is_filed_by_amocrm(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    seeded = amo.seed(preset="known_client")
    client_ref = EntityRef(kind="contact", id=str(seeded["contacts"][0]))
    outgoing = log_call(direction="outgoing", result="not_reached", phone=KNOWN_NUMBER, customer=client_ref)
    run(adapter, [outgoing], {})
    (call,) = amo.state()["calls"]
    assert (call["direction"], call["call_status"], call["call_result"]) == ("outbound", 6, "Не дозвонился")
    assert (call["entity_type"], call["entity_id"]) == ("leads", seeded["leads"][0])  # its single open deal
    assert "link" not in call or call["link"] is None


def test_a_call_from_an_unknown_number_creates_nothing_when_the_settings_ask_for_nothing(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    outcome = adapter.execute(log_call(), {}, {})
    assert outcome.refs == () and outcome.detail.startswith("not logged: no contact or company")
    state = amo.state()
    assert [c["result"] for c in state["calls"]] == ["entity_not_found"]
    assert not state["contacts"] and not state["notes"]


def test_a_created_client_amocrm_cannot_match_is_a_rejection(adapter: AmoCrmAdapter) -> None:
    ghost = {
        "create_contact": Executed(key="create_contact", refs=(EntityRef(kind="contact", id="2999999"),))
    }
    with pytest.raises(CrmRejected, match="found no contact or company"):
        adapter.execute(log_call(related_keys=("create_contact",)), ghost, {})


def test_a_hidden_number_is_not_logged(adapter: AmoCrmAdapter) -> None:
    outcome = adapter.execute(log_call(phone=None), {}, {})
    assert "hidden" in outcome.detail


def test_an_intent_pointing_at_an_unexecuted_one_is_rejected(adapter: AmoCrmAdapter) -> None:
    with pytest.raises(CrmRejected, match="create_contact"):
        adapter.execute(deal(), {}, {})


def test_capabilities_match_what_the_settings_let_amocrm_create(adapter: AmoCrmAdapter) -> None:
    kinds = {
        kind
        for kind in ("contact", "company", "lead", "deal", "unsorted")
        if adapter.capabilities.supports(kind)
    }
    assert kinds == set(CREATABLE[CrmKind.AMOCRM])
    assert adapter.capabilities.tasks and adapter.capabilities.call_tracking_fields


def test_amocrm_has_no_qualification_leads(adapter: AmoCrmAdapter) -> None:
    lead = CreateLead(key="create_lead", reason="test", responsible_user_id=BORIS, name="x", phone=NEW_NUMBER)
    assert not adapter.capabilities.lead and adapter.capabilities.deal and adapter.capabilities.unsorted
    with pytest.raises(BadSettings, match="no qualification leads"):
        adapter.execute(lead, {}, {})


def test_executing_the_same_intents_again_creates_nothing_twice(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    intents: list[Intent] = [
        contact(),
        deal(),
        log_call(recording_ids=("rec-1",), related_keys=("create_contact", "create_deal")),
    ]
    amo.add_fault({"status": 503, "path": "api/v4/calls"})
    done: dict[str, Executed] = {}
    with pytest.raises(CrmUnavailable):
        run(adapter, intents, done)
    assert set(done) == {"create_contact", "create_deal"}
    run(adapter, intents, done)
    writes = len(api_requests(amo, "POST"))
    run(adapter, intents, done)
    assert len(api_requests(amo, "POST")) == writes
    state = amo.state()
    assert (len(state["contacts"]), len(state["leads"])) == (1, 1)
    assert [c["result"] for c in state["calls"]] == ["stored"]


# -- settings problems ------------------------------------------------------------------------------


def test_a_validation_error_is_rejected_in_amocrms_words(adapter: AmoCrmAdapter) -> None:
    with pytest.raises(CrmRejected) as problem:
        adapter.execute(contact(responsible_user_id="1234"), {}, {})
    message = str(problem.value)
    assert "Request validation failed" in message
    assert "responsible_user_id" in message and "NotSupportedChoice" in message
    assert problem.value.status == 400


def test_a_pipeline_or_stage_missing_from_amocrm_names_the_choices(adapter: AmoCrmAdapter) -> None:
    done = run(adapter, [contact()], {})
    with pytest.raises(BadSettings, match="Воронка"):
        adapter.execute(deal(program="Продажи"), done, {})
    with pytest.raises(BadSettings, match="Переговоры"):
        adapter.execute(deal(program="Воронка", status="Архив"), done, {})
    with pytest.raises(BadSettings, match="Неразобранное"):
        adapter.execute(deal(status="Неразобранное"), done, {})


def test_a_user_id_that_is_not_a_number_is_a_settings_problem(adapter: AmoCrmAdapter) -> None:
    with pytest.raises(BadSettings, match="not an amoCRM id"):
        adapter.execute(contact(responsible_user_id="boris@example.test"), {}, {})


# -- failures ---------------------------------------------------------------------------------------


def test_too_many_requests_is_rate_limited(amo: AmoCrmSandbox, adapter: AmoCrmAdapter) -> None:
    amo.add_fault({"status": 429})
    with pytest.raises(CrmRateLimited) as problem:
        adapter.facts(NEW_NUMBER)
    assert problem.value.status == 429


def test_retry_after_is_passed_on() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3"})

    store = MemoryTokenStore(Tokens(access_token="t", base_url="https://demo.amocrm.ru"))
    api = AmoCrmClient(store, http=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(CrmRateLimited) as problem:
        api.get("/api/v4/account")
    assert problem.value.retry_after == 3.0


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 500}, {"outage": True}])
def test_server_errors_are_unavailable(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter, fault: dict[str, Any]
) -> None:
    amo.add_fault(fault)
    with pytest.raises(CrmUnavailable):
        adapter.execute(contact(), {}, {})


def test_timeouts_and_refused_connections_are_unavailable(
    amo: AmoCrmSandbox, store: MemoryTokenStore
) -> None:
    amo.add_fault({"latency_ms": 600, "path": "api/v4/account"})
    slow = AmoCrmClient(store, timeout=0.2, connect_timeout=0.2)
    with pytest.raises(CrmUnavailable, match="timed out"):
        slow.get("/api/v4/account")
    gone = AmoCrmClient(store, base_url="http://127.0.0.1:9", connect_timeout=0.5)
    with pytest.raises(CrmUnavailable):
        gone.get("/api/v4/account")


def test_an_expired_access_token_is_refreshed_once_and_the_new_pair_saved(
    amo: AmoCrmSandbox, store: MemoryTokenStore, adapter: AmoCrmAdapter
) -> None:
    first = store.load()
    amo.expire_access_tokens()
    adapter.execute(contact(), {}, {})
    (saved,) = store.saved
    assert saved.refresh_token != first.refresh_token and saved.access_token != first.access_token
    assert saved.client_id == DEFAULT_CLIENT_ID and saved.base_url == amo.url
    assert saved.expires_at is not None and saved.expires_at > time.time()
    statuses = [(r.path, r.status) for r in amo.requests]
    assert statuses == [
        ("/api/v4/contacts", 401),
        ("/oauth2/access_token", 200),
        ("/api/v4/contacts", 200),
    ]


def test_a_token_past_its_expiry_is_refreshed_before_use(amo: AmoCrmSandbox) -> None:
    store = MemoryTokenStore(oauth_tokens(amo, expires_at=time.time() - 1))
    AmoCrmClient(store).get("/api/v4/account")
    assert [(r.path, r.status) for r in amo.requests] == [
        ("/oauth2/access_token", 200),
        ("/api/v4/account", 200),
    ]
    assert len(store.saved) == 1


def test_a_pair_rotated_by_another_process_is_picked_up_not_refreshed_again(
    amo: AmoCrmSandbox, store: MemoryTokenStore
) -> None:
    one, two = AmoCrmClient(store), AmoCrmClient(store)
    two.get("/api/v4/account")  # reads the pair into memory
    amo.expire_access_tokens()
    one.get("/api/v4/account")  # refreshes: the pair `two` holds is now dead
    two.get("/api/v4/account")
    assert len(store.saved) == 1
    assert [r.path for r in amo.requests].count("/oauth2/access_token") == 1


def test_a_revoked_refresh_token_means_reconnecting(amo: AmoCrmSandbox, store: MemoryTokenStore) -> None:
    stale = store.load()
    with httpx.Client(trust_env=False) as http:  # someone else used the refresh token and lost the answer
        answer = http.post(
            f"{amo.url}/oauth2/access_token",
            json={
                "grant_type": "refresh_token",
                "refresh_token": stale.refresh_token,
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "redirect_uri": DEFAULT_REDIRECT_URI,
            },
        )
    assert answer.status_code == 200
    adapter = AmoCrmAdapter(AmoCrmClient(store))
    with pytest.raises(BadSettings, match="reconnect amoCRM"):
        adapter.facts(NEW_NUMBER)
    assert not store.saved


def test_a_long_lived_token_is_used_as_is_and_never_refreshed(amo: AmoCrmSandbox) -> None:
    token = amo.issue_long_lived_token(ttl_seconds=3600)
    tokens = Tokens.long_lived_token(token, base_url=amo.url)
    assert tokens.long_lived and tokens.expires_at is not None
    store = MemoryTokenStore(tokens)
    api = AmoCrmClient(store)
    assert AmoCrmAdapter(api).check_connection().ok
    amo.clock.advance(7200)  # type: ignore[attr-defined]
    with pytest.raises(BadSettings, match="long-lived token"):
        api.get("/api/v4/account")
    assert not store.saved
    assert "/oauth2/access_token" not in [r.path for r in amo.requests]


# -- the 7 requests/s limit -------------------------------------------------------------------------


def test_a_burst_of_twenty_requests_stays_under_seven_per_second(
    amo: AmoCrmSandbox, client: AmoCrmClient
) -> None:
    def work(count: int) -> None:
        for _ in range(count):
            client.get("/api/v4/account")

    threads = [threading.Thread(target=work, args=(5,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logged = api_requests(amo, "GET", "/api/v4/account")
    assert len(logged) == 20
    assert all(r.status == 200 for r in logged)
    stamps = sorted(r.at for r in logged)
    assert all(later - earlier >= 1.0 for earlier, later in zip(stamps, stamps[7:], strict=False))


# -- connection check (F41) -------------------------------------------------------------------------


def test_connection_check_says_in_plain_words_what_is_wrong(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    ok = adapter.check_connection()
    assert ok.ok and "Sandbox" in ok.message

    bad = AmoCrmAdapter(AmoCrmClient(MemoryTokenStore(Tokens(access_token="wrong", base_url=amo.url))))
    refused = bad.check_connection()
    assert not refused.ok
    assert "не установлено приложение интеграции" in refused.message

    amo.add_fault({"outage": True})
    down = adapter.check_connection()
    assert not down.ok and "не отвечает" in down.message


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("Demo", "https://demo.amocrm.ru"),
        ("  demo.amocrm.ru ", "https://demo.amocrm.ru"),
        ("https://Demo.AmoCRM.ru/leads/pipeline/", "https://demo.amocrm.ru"),
        ("http://127.0.0.1:3002", "http://127.0.0.1:3002"),
    ],
)
def test_the_account_address_is_trimmed_and_lower_cased(typed: str, url: str) -> None:
    assert normalise_base_url(typed) == url


# -- where the tokens live --------------------------------------------------------------------------


def test_the_first_pair_comes_from_the_authorization_code(amo: AmoCrmSandbox) -> None:
    code = amo.issue_authorization_code()
    tokens = exchange_code(
        amo.url,
        code,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        redirect_uri=DEFAULT_REDIRECT_URI,
    )
    assert tokens.refresh_token and tokens.base_url == amo.url
    assert AmoCrmAdapter(AmoCrmClient(MemoryTokenStore(tokens))).check_connection().ok
    with pytest.raises(BadSettings, match="connect amoCRM again"):
        exchange_code(
            amo.url,
            code,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
            redirect_uri=DEFAULT_REDIRECT_URI,
        )


def test_tokens_round_trip_through_secrets_manager(
    monkeypatch: pytest.MonkeyPatch, amo: AmoCrmSandbox
) -> None:
    from moto import mock_aws

    from mango_bridge.store import table

    for name in [k for k in __import__("os").environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    table.client.cache_clear()
    try:
        with mock_aws():
            tokens = oauth_tokens(amo)
            table.client("secretsmanager").create_secret(
                Name="amocrm/t1", SecretString=tokens.model_dump_json()
            )
            store = SecretsManagerTokenStore("amocrm/t1")
            assert store.load() == tokens
            amo.expire_access_tokens()
            AmoCrmClient(store).get("/api/v4/account")
            rotated = SecretsManagerTokenStore("amocrm/t1").load()
            assert (
                rotated.refresh_token != tokens.refresh_token
                and rotated.client_secret == DEFAULT_CLIENT_SECRET
            )
            with pytest.raises(BadSettings, match="amocrm/missing"):
                SecretsManagerTokenStore("amocrm/missing").load()
    finally:
        table.client.cache_clear()
