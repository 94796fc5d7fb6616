"""The Omnidesk adapter against the Omnidesk sandbox, in-process: what the helpdesk ends up holding.

Calls are Mango scenarios folded by the real assembly and decided by the real policy on the facts the
adapter looks up, then executed intent by intent, as the post-call workflow does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mango_bridge.calls.model import CallAggregate
from mango_bridge.crm.errors import BadSettings, CrmRateLimited, CrmRejected, CrmUnavailable
from mango_bridge.crm.omnidesk import OmnideskAdapter, OmnideskClient, load_credentials, normalise_base_url
from mango_bridge.crm.port import CallAnnotation, Executed, RecordingLink, TranscriptPhrase
from mango_bridge.policy import CreateContact, Decision, decide
from mango_bridge.policy.facts import EntityRef
from mango_bridge.policy.intents import CaseFiling, LogCall, UpdateCase
from mango_bridge.settings.model import EmployeeMapping, MangoConnection, TenantSettings
from sandbox.crm.amocrm import AmoCrmSandbox
from sandbox.crm.omnidesk import DEFAULT_API_KEY, DEFAULT_STAFF_EMAIL, OmnideskSandbox
from tests.unit.test_policy_builders import call_of
from tests.unit.test_policy_cases import OUTGOING_NOT_REACHED

STAFF = [
    {"staff_id": 8000001, "staff_email": "anna@demo.omnidesk.ru", "staff_full_name": "Анна Смирнова"},
    {"staff_id": 8000002, "staff_email": "boris@demo.omnidesk.ru", "staff_full_name": "Борис Иванов"},
    {"staff_id": 8000003, "staff_email": "vera@demo.omnidesk.ru", "staff_full_name": "Вера Кузнецова"},
    {
        "staff_id": 8000009,
        "staff_email": "gone@demo.omnidesk.ru",
        "staff_full_name": "Уволен",
        "active": False,
    },
]
SETTINGS = TenantSettings(
    mango=MangoConnection(api_key="demo-key-0001"),
    employees=[
        EmployeeMapping(extension="101", crm_user_id="8000001", name="Анна Смирнова"),
        EmployeeMapping(extension="102", crm_user_id="8000002", name="Борис Иванов"),
        EmployeeMapping(extension="103", crm_user_id="8000003", name="Вера Кузнецова"),
    ],
)


@pytest.fixture
def sandbox() -> Iterator[OmnideskSandbox]:
    with OmnideskSandbox() as server:
        server.seed(staff=STAFF)
        yield server


def make_adapter(sandbox: OmnideskSandbox, **client: Any) -> OmnideskAdapter:
    return OmnideskAdapter(
        OmnideskClient(sandbox.url, DEFAULT_STAFF_EMAIL, DEFAULT_API_KEY, **client), sleep=lambda _: None
    )


@pytest.fixture
def adapter(sandbox: OmnideskSandbox) -> OmnideskAdapter:
    return make_adapter(sandbox)


def links_for(call: CallAggregate) -> dict[str, RecordingLink]:
    return {
        r.recording_id: RecordingLink(
            recording_id=r.recording_id, url=f"https://bridge.example/r/{r.recording_id}"
        )
        for r in call.recordings
    }


def run_call(adapter: OmnideskAdapter, call: CallAggregate) -> tuple[Decision, dict[str, Executed]]:
    """Facts once before the writes, the decision, then every intent in order."""
    party = call.callee if call.direction == "outgoing" else call.caller
    per_call = adapter.for_call(call.entry_id)
    decision = decide(call, SETTINGS, per_call.facts(party.e164 or party.number), per_call.capabilities)
    done: dict[str, Executed] = {}
    for intent in decision.intents:
        done[intent.key] = per_call.execute(intent, done, links_for(call))
    return decision, done


def cases_of(sandbox: OmnideskSandbox, phone: str) -> list[dict[str, Any]]:
    state = sandbox.state()
    users = {u["user_id"] for u in state["users"] if u["user_phone"].lstrip("+") == phone.lstrip("+")}
    return [case for case in state["cases"] if case["user_id"] in users]


def missed(caller: str) -> CallAggregate:
    return call_of("two-calls-at-once", "second", second_caller=caller)


def answered(caller: str) -> CallAggregate:
    return call_of("incoming-answered", caller=caller)


def callback(customer: str, reached: bool = True) -> CallAggregate:
    if reached:
        return call_of("callback", customer=customer, op="101")
    return call_of(OUTGOING_NOT_REACHED, customer=customer, op="101")


# --- facts -------------------------------------------------------------------------------------------


def test_facts_of_an_unknown_number_list_only_the_staff_with_disabled_ones_blocked(
    adapter: OmnideskAdapter,
) -> None:
    facts = adapter.facts("+79160000001")
    assert facts.found == ()
    by_id = {user.id: user for user in facts.users}
    assert by_id["8000001"].name == "Анна Смирнова" and by_id["8000001"].can_be_responsible
    assert not by_id["8000009"].can_be_responsible


def test_a_user_is_found_by_the_exact_number_however_it_is_stored(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    sandbox.seed(
        users=[
            {"user_phone": "79161112233", "user_full_name": "Иван Петров"},
            {"user_phone": "+791611122334", "user_full_name": "Не тот"},
        ]
    )
    facts = adapter.facts("+79161112233")
    assert [(f.kind, f.name, f.open_case_ids) for f in facts.found] == [("contact", "Иван Петров", ())]


def test_facts_carry_only_open_missed_call_cases_still_waiting_for_a_conversation(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    run_call(adapter, missed("79160000002"))
    (case,) = cases_of(sandbox, "79160000002")
    (user,) = adapter.facts("+79160000002").found
    assert user.open_case_ids == (str(case["case_id"]),)
    run_call(adapter, callback("79160000002"))
    assert adapter.facts("+79160000002").found[0].open_case_ids == ()


# --- the cases a caller ends up with ---------------------------------------------------------------


def test_answered_call_from_a_new_number_creates_the_user_and_a_waiting_case_with_the_recording(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    call = answered("79161234567")
    decision, done = run_call(adapter, call)
    (case,) = cases_of(sandbox, "79161234567")
    assert (case["subject"], case["status"], case["channel"], case["staff_id"]) == (
        "Входящий звонок с +79161234567",
        "waiting",
        "call",
        8000001,
    )
    first, reply = case["messages"]
    assert first["user_id"] == case["user_id"] and "Анна Смирнова (доб. 101), 1 мин 35 с" in first["content"]
    (recording,) = call.recordings
    assert (reply["staff_id"], reply["content"]) == (
        8000001,
        f"Запись разговора: https://bridge.example/r/{recording.recording_id}",
    )
    (log,) = decision.of(LogCall)
    assert done[log.key].refs[0] == EntityRef(kind="case", id=str(case["case_id"]), name=case["subject"])


def test_missed_calls_are_grouped_in_one_open_case_until_a_callback_reaches_the_caller(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    for _ in range(3):
        run_call(adapter, missed("79162223344"))
    (case,) = cases_of(sandbox, "79162223344")
    assert (case["subject"], case["status"], case["label_titles"]) == (
        "Пропущенный звонок с +79162223344",
        "open",
        ["Пропущенный звонок"],
    )
    assert [m["user_id"] == case["user_id"] for m in case["messages"]] == [True, True, True]
    assert all(m["content"].startswith("Пропущенный звонок") for m in case["messages"])

    run_call(adapter, callback("79162223344", reached=False))
    (case,) = cases_of(sandbox, "79162223344")
    assert case["status"] == "open" and case["messages"][-1]["note"] is True

    run_call(adapter, callback("79162223344"))
    (case,) = cases_of(sandbox, "79162223344")
    assert (case["status"], case["label_titles"]) == ("waiting", ["Перезвонили"])
    assert "Запись разговора: https://bridge.example/r/" in case["messages"][-1]["content"]

    run_call(adapter, missed("79162223344"))
    old, new = cases_of(sandbox, "79162223344")
    assert old["case_id"] == case["case_id"] and old["status"] == "waiting"
    assert (new["subject"], new["status"], len(new["messages"])) == (
        "Пропущенный звонок с +79162223344",
        "open",
        1,
    )


def test_answered_call_after_a_missed_one_opens_its_own_case_and_closes_the_missed_call_case(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    run_call(adapter, missed("79163334455"))
    run_call(adapter, answered("79163334455"))
    missed_case, answered_case = cases_of(sandbox, "79163334455")
    assert (missed_case["status"], missed_case["closed_at"] != "-") == ("closed", True)
    assert (answered_case["subject"], answered_case["status"]) == (
        "Входящий звонок с +79163334455",
        "waiting",
    )
    assert len(sandbox.state()["users"]) == 1, "the second call found the user the first one created"


def test_transferred_call_opens_a_case_per_employee_conversation(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    run_call(adapter, call_of("blind-transfer", caller="79164445566"))
    first, second = cases_of(sandbox, "79164445566")
    assert (first["staff_id"], first["status"]) == (8000001, "closed")
    assert (second["staff_id"], second["status"]) == (8000003, "waiting")


def test_an_outgoing_call_to_a_known_user_opens_a_closed_case_with_the_responsible(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    sandbox.seed(users=[{"user_phone": "+79165556677", "user_full_name": "Мария"}])
    run_call(adapter, callback("79165556677"))
    (case,) = cases_of(sandbox, "79165556677")
    assert (case["subject"], case["status"], case["staff_id"]) == (
        "Исходящий звонок на +79165556677",
        "closed",
        8000001,
    )
    assert len(sandbox.state()["users"]) == 1


# --- single intents -------------------------------------------------------------------------------


def test_creating_a_user_that_already_exists_reuses_it(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    sandbox.seed(users=[{"user_phone": "79166667788"}])
    intent = CreateContact(
        key="create_contact", reason="test", responsible_user_id="8000001", name="Новый", phone="+79166667788"
    )
    outcome = adapter.execute(intent, {}, {})
    assert outcome.refs[0].id == str(sandbox.state()["users"][0]["user_id"])
    assert len(sandbox.state()["users"]) == 1


def test_a_failed_recording_reply_never_fails_the_case_it_follows(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    sandbox.add_fault({"path": "api/cases/5", "status": 503, "count": 5})  # the case's messages
    decision, done = run_call(adapter, answered("79167778899"))
    (case,) = cases_of(sandbox, "79167778899")
    assert len(case["messages"]) == 1
    assert "the recording reply failed" in done[decision.of(LogCall)[0].key].detail


def test_updating_a_case_that_does_not_exist_is_rejected(adapter: OmnideskAdapter) -> None:
    intent = UpdateCase(
        key="update_case:1", reason="test", case=EntityRef(kind="case", id="1"), status="closed"
    )
    with pytest.raises(CrmRejected, match="case_not_found"):
        adapter.execute(intent, {}, {})


def test_a_case_for_a_disabled_staff_member_is_rejected_with_omnideskss_words(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    sandbox.seed(users=[{"user_phone": "+79168889900"}])
    user = adapter.facts("+79168889900").found[0].ref()
    intent = LogCall(
        key="log_call:x",
        reason="test",
        direction="incoming",
        result="missed",
        started_at=None,
        duration_seconds=0,
        responsible_user_id="8000009",
        bound_by="employee",
        employee_extension="109",
        talk_leg_ids=(),
        leg_ids=(),
        phone="+79168889900",
        customer=user,
        case=CaseFiling(
            subject="Пропущенный звонок с +79168889900", status="open", missed_call=True, text="x"
        ),
    )
    with pytest.raises(CrmRejected, match="staff_disabled"):
        adapter.execute(intent, {}, {})


def test_annotations_go_into_the_case_as_a_note(sandbox: OmnideskSandbox, adapter: OmnideskAdapter) -> None:
    decision, done = run_call(adapter, answered("79169990011"))
    record = done[decision.of(LogCall)[0].key]
    annotation = CallAnnotation(
        key="topics:r1",
        topics=("доставка",),
        transcript=(TranscriptPhrase(speaker="client", name="Клиент", text="Где мой заказ?"),),
        quality_score=9,
    )
    adapter.annotate(record, annotation)
    note = cases_of(sandbox, "79169990011")[0]["messages"][-1]
    assert note["note"] is True and note["staff_id"] == 100
    assert note["content"] == (
        "Темы разговора: доставка\n\nРасшифровка разговора:\nКлиент: Где мой заказ?\n\nОценка качества: 9 из 10"
    )


# --- errors and limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 429}, CrmRateLimited),
        ({"status": 503}, CrmUnavailable),
        ({"outage": True}, CrmUnavailable),
    ],
)
def test_omnidesk_failures_map_to_the_workflows_error_names(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter, fault: dict[str, Any], error: type[Exception]
) -> None:
    sandbox.add_fault(fault)
    with pytest.raises(error):
        adapter.facts("+79160000003")


def test_wrong_credentials_are_bad_settings(sandbox: OmnideskSandbox) -> None:
    adapter = OmnideskAdapter(OmnideskClient(sandbox.url, DEFAULT_STAFF_EMAIL, "wrong-key"))
    with pytest.raises(BadSettings, match="HTTP 401"):
        adapter.facts("+79160000004")


def test_a_dead_address_is_unavailable_not_a_crash() -> None:
    adapter = OmnideskAdapter(OmnideskClient("http://127.0.0.1:9", DEFAULT_STAFF_EMAIL, DEFAULT_API_KEY))
    with pytest.raises(CrmUnavailable):
        adapter.facts("+79160000005")


def test_the_spent_minute_allowance_is_waited_out_without_sending(sandbox: OmnideskSandbox) -> None:
    sandbox.rate_limit = 3
    client = OmnideskClient(sandbox.url, DEFAULT_STAFF_EMAIL, DEFAULT_API_KEY, sleep=lambda _: None)
    for _ in range(3):
        client.get("/api/staff.json")
    assert (client.per_minute, client.calls_left) == (3, 0)
    with pytest.raises(CrmRateLimited) as refused:
        client.get("/api/staff.json")
    assert refused.value.retry_after is not None and refused.value.retry_after > 2
    assert len(sandbox.requests) == 3, "the fourth request was never sent"


def test_a_429_carries_omnidesks_retry_after(sandbox: OmnideskSandbox) -> None:
    sandbox.rate_limit = 1
    first = httpx.get(f"{sandbox.url}/api/staff.json", auth=(DEFAULT_STAFF_EMAIL, DEFAULT_API_KEY))
    assert first.headers["api_calls_left"] == "0"
    client = OmnideskClient(sandbox.url, DEFAULT_STAFF_EMAIL, DEFAULT_API_KEY)
    with pytest.raises(CrmRateLimited) as refused:
        client.get("/api/staff.json")
    assert refused.value.status == 429 and 50 <= (refused.value.retry_after or 0) <= 60


# --- connection check (F41) and credentials ------------------------------------------------------


def test_connection_check_answers_in_plain_words(sandbox: OmnideskSandbox, adapter: OmnideskAdapter) -> None:
    assert adapter.check_connection().model_dump() == {
        "ok": True,
        "message": "Подключение к Омнидеску установлено: 4 активных сотрудников",
    }
    wrong = OmnideskAdapter(OmnideskClient(sandbox.url, DEFAULT_STAFF_EMAIL, "nope"))
    assert wrong.check_connection().message.startswith("Неверный e-mail сотрудника или API-ключ")
    with AmoCrmSandbox() as other:
        elsewhere = OmnideskAdapter(OmnideskClient(other.url, DEFAULT_STAFF_EMAIL, DEFAULT_API_KEY))
        assert elsewhere.check_connection().message.startswith("Неверный адрес Омнидеска")


def test_the_address_is_trimmed_and_lower_cased() -> None:
    assert normalise_base_url(" https://Support.Omnidesk.ru/staff ") == "https://support.omnidesk.ru"
    assert normalise_base_url("Support") == "https://support.omnidesk.ru"
    with pytest.raises(BadSettings):
        normalise_base_url("ftp://x")


class _Secrets:
    def __init__(self, text: str) -> None:
        self.text = text

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        return {"SecretString": self.text}


def test_credentials_accept_staff_email_or_email_and_refuse_a_secret_without_the_key() -> None:
    login = load_credentials("s", _Secrets('{"email": "a@b.ru", "api_key": "k"}'))
    assert (login.staff_email, login.api_key, login.channel) == ("a@b.ru", "k", "call")
    assert (
        load_credentials(
            "s", _Secrets('{"staff_email": "a@b.ru", "api_key": "k", "channel": "chh7"}')
        ).channel
        == "chh7"
    )
    with pytest.raises(BadSettings, match="staff_email"):
        load_credentials("s", _Secrets('{"staff_email": "a@b.ru"}'))


def test_the_nightly_sync_finds_a_call_whose_case_someone_deleted(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    """F30 against what Omnidesk holds: a written call record is looked up by its case."""
    decision, done = run_call(adapter, answered("79161234570"))
    (log,) = decision.of(LogCall)
    records = [("entry-1", done[log.key])]
    assert adapter.missing_records(records) == set()
    (case,) = cases_of(sandbox, "79161234570")
    del sandbox.store.cases[case["case_id"]]  # deleted by a staff member
    assert adapter.missing_records(records) == {("entry-1", log.key)}
