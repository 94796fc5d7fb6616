"""Mango's own worked examples (D110 p.16–17 and p.46–59), delivered signed to the ingest handler
against moto exactly as printed — string and number variants, the `"locaton"` typo and all — and the
call they fold into. Only the examples' punctuation is repaired (see `printed.py`)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from mango_bridge.calls.model import CallAggregate
from mango_bridge.mango.signature import sign
from tests.conftest import Tenant, form_body, http_event, load_function
from tests.spec.printed import Notification, notifications, walkthrough

pytestmark = pytest.mark.spec

CONTEXT = SimpleNamespace(
    function_name="ingest",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:eu-central-1:123456789012:function:ingest",
    aws_request_id="spec",
)
ENTRY = "232wc3e3w3s222"


@pytest.fixture
def deliver(aws: Any, tenant: Tenant) -> Any:
    ingest = load_function("ingest")
    ingest._ingestor = None

    def post(items: list[Notification]) -> None:
        for item in items:
            item.check()
            json_text = item.json_text
            body = form_body(tenant.api_key, json_text, sign(tenant.api_key, json_text, tenant.api_salt))
            answer = ingest.handler(http_event(tenant.tenant_id, item.suffix, body), CONTEXT)
            assert answer["statusCode"] == 200, (item.suffix, item.printed, answer["body"])
            assert json.loads(answer["body"])["duplicate"] is False

    return post


def folded(tenant: Tenant, entry_id: str = ENTRY) -> CallAggregate:
    from mango_bridge.store.calls import CallStore

    call = CallStore().get(tenant.tenant_id, entry_id)
    assert call is not None
    return call


def legs(call: CallAggregate) -> dict[str, Any]:
    return {leg.call_id: leg for leg in call.legs}


def command_results(aws: Any, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """`result/*` notifications are kept under the command, not the call."""
    import os

    items = aws.scan(TableName=os.environ["TABLE_NAME"])["Items"]
    return {
        item["PK"]["S"].split("#", 2)[2]: json.loads(item["json"]["S"])
        for item in items
        if item["PK"]["S"].startswith(f"CMD#{tenant.tenant_id}#")
    }


# --- p.16–17: events/summary -----------------------------------------------------------------------

# The section is «Уведомление о завершении вызова POST /events/summary» (p.15); its examples print the
# URL `…/events/call`, a copy slip — they are delivered to events/summary.
SUMMARIES = notifications("p16-17-summary-examples.txt", suffix="events/summary")


def test_the_printed_examples_are_all_read() -> None:
    assert len(SUMMARIES) == 4
    assert [len(notifications(name)) for name in ("p46-outgoing-call.txt", "p47-48-callback.txt")] == [3, 6]
    assert len(notifications("p49-50-routing.txt")) == 6  # the commands/route between them is ours
    assert len(notifications("p51-53-consultative-transfer.txt")) == 8
    assert len(notifications("p54-56-blind-transfer.txt")) == 8
    assert [n.suffix for n in walkthrough("p58-59-dtmf.txt")] == [
        "events/call",
        "events/dtmf",
        "events/dtmf",
        "result/route",
        "events/call",
    ]


def test_p16_example_1_incoming_call_answered_by_operator_123(deliver: Any, tenant: Tenant) -> None:
    """«Пример 1: Для сценария успешного входящего звонка на линию ВАТС и последующего распределения на
    оператора с внутренним номером 123»."""
    deliver(SUMMARIES[0:1])
    call = folded(tenant)
    assert (call.status, call.direction, call.answered, call.talk_seconds) == (
        "completed",
        "incoming",
        True,
        10,
    )
    assert (call.caller.number, call.callee.extension, call.line_number) == (
        "7800123635242",
        "123",
        "7800123456789",
    )
    assert call.talked_extensions == ["123"]  # «to … при успешном звонке: абонент, который ответил»
    assert call.legs == []


def test_p16_example_2_incoming_call_ended_in_the_ivr(deliver: Any, tenant: Tenant) -> None:
    """«Пример 2: Для сценария не успешного входящего звонка на DID номер (разговор завершился в IVR меню
    без переадресации)» — printed with `"entry_result": 1` and `"talk_time" : 0`; talk_time decides
    (p.16: «Если в звонке не состоялся разговор, то равно нулю»)."""
    deliver(SUMMARIES[1:2])
    call = folded(tenant)
    assert (call.direction, call.answered, call.talk_seconds, call.talked_extensions) == (
        "incoming",
        False,
        0,
        [],
    )
    assert (call.entry_result, call.disconnect_reason) == (1, 1170)


def test_p17_example_3_outgoing_call_from_a_sip_account_answered(deliver: Any, tenant: Tenant) -> None:
    """«Пример 3: Для сценария успешного исходящего звонка на внешний номер с сип-учетки сотрудника»."""
    deliver(SUMMARIES[2:3])
    call = folded(tenant)
    assert (call.direction, call.answered, call.talk_seconds) == ("outgoing", True, 10)
    assert (call.caller.extension, call.caller.number) == ("123", "sip:user1@хyz.mangosip.ru")
    assert call.talked_extensions == ["123"]


def test_p17_example_4_outgoing_call_not_answered(deliver: Any, tenant: Tenant) -> None:
    """«Пример 4: Для сценария не успешного исходящего звонка на внешний номер с учетки сотрудника»."""
    deliver(SUMMARIES[3:4])
    call = folded(tenant)
    assert (call.direction, call.answered, call.talk_seconds, call.talked_extensions) == (
        "outgoing",
        False,
        0,
        [],
    )


# --- p.46–59: «Примеры поведения» ----------------------------------------------------------------


def test_p46_an_employee_calls_an_outside_number(deliver: Any, tenant: Tenant) -> None:
    """«Сотрудник ВАТС с внутренним номером "1234" вызывает с номера "74955404444" внешнего абонента с
    номером "12345678"» — Appeared, Connected, «Вызов завершен, внешний абонент повесил трубку»."""
    deliver(notifications("p46-outgoing-call.txt"))
    call = folded(tenant)
    assert (call.status, call.direction, call.answered) == ("in_progress", "outgoing", True)
    assert call.talked_extensions == ["1234"]
    (leg,) = call.legs
    assert (leg.call_id, leg.location, leg.state, leg.disconnect_reason) == (
        "100:500:256",
        "abonent",
        "Disconnected",
        1120,
    )
    assert (leg.from_party.number, leg.to_party.number) == ("74955404444", "12345678")
    assert (leg.connected_at, leg.ended_at) == (1399906988, 1399907008)
    assert call.talk_seconds == 20


def test_p47_click_to_call_that_the_called_employee_rejected(deliver: Any, tenant: Tenant, aws: Any) -> None:
    """p.47: «Система звонит инициатору вызова — сотруднику ВАТС с внутренним номером "1234"»,
    «Инициатор взял трубку»; p.48: «Появляется новый вызов», «Сотрудника ВАТС с внутренним номером "5555"
    отклонил вызов … до соединения». Nobody talked: the initiator's ring is not a conversation. The
    number dialled (74955404444) is a phone number, so without a summary the call reads as outgoing."""
    deliver(notifications("p47-48-callback.txt"))
    call = folded(tenant)
    assert (call.direction, call.answered, call.talked_extensions) == ("outgoing", False, [])
    by_id = legs(call)
    assert list(by_id) == ["100:500:251", "100:500:258"]
    ring, dial = by_id["100:500:251"], by_id["100:500:258"]
    assert (ring.rings_initiator, ring.answered, ring.disconnect_reason) == (True, True, 1000)
    assert (dial.rings_initiator, dial.answered, dial.disconnect_reason) == (False, False, 1124)
    assert dial.transferred_from == "100:500:251"
    assert {ring.command_id, dial.command_id} == {"cmd.2.vpbx.12345.external.system.com.net"}
    assert (call.caller.extension, call.callee.extension) == ("1234", "5555")
    assert command_results(aws, tenant) == {
        "cmd.2.vpbx.12345.external.system.com.net": {
            "command_id": "cmd.2.vpbx.12345.external.system.com.net",
            "result": "1000",
        }
    }


def test_p49_a_call_routed_from_the_ivr_to_extension_123(deliver: Any, tenant: Tenant, aws: Any) -> None:
    """p.49: «Вызов поступает на номер DID 7800123456789, попадает в IVR», the external system routes it
    to 123, «IVR завершается», «Новый вызов на сотрудника, уведомление о результате выполнения команды»,
    «Сотрудник снимает трубку», «Вызов завершен, внешний абонент повесил трубку»."""
    deliver(notifications("p49-50-routing.txt"))
    call = folded(tenant)
    assert (call.direction, call.answered, call.talked_extensions) == ("incoming", True, ["123"])
    assert call.line_number == "7800123456789"
    by_id = legs(call)
    ivr, employee = by_id["100:500:256"], by_id["100:500:257"]
    assert (ivr.location, ivr.answered, ivr.disconnect_reason) == ("ivr", False, 1100)
    assert (employee.location, employee.transferred_from, employee.command_id) == (
        "abonent",
        "100:500:256",
        "c111",
    )
    assert (employee.to_party.extension, employee.to_party.number) == ("123", "sip:aaa@mangosip.ru")
    assert (employee.connected_at, employee.ended_at, employee.disconnect_reason) == (
        1399906988,
        1399907008,
        1120,
    )
    assert command_results(aws, tenant) == {"c111": {"command_id": "c111", "result": "1000"}}


def test_p51_consultative_transfer_from_123_to_321(deliver: Any, tenant: Tenant) -> None:
    """p.51–53 «Перевод вызова с консультацией»: the customer talks to 123, is put on hold, 123 calls 321
    (leg taken from the first), hangs up, and «абонент "12345678" замещен абонентом "74955404444"».
    Printed with `"locaton": "abonent";` — an unknown field, so these legs have no location."""
    deliver(notifications("p51-53-consultative-transfer.txt"))
    call = folded(tenant)
    assert (call.direction, call.answered, call.talked_extensions) == ("incoming", True, ["123", "321"])
    first, second = legs(call)["200:514"], legs(call)["202:515"]
    assert first.location is None and second.location is None  # «locaton»
    assert (first.state, first.disconnect_reason, first.last_seq) == ("Disconnected", 1120, 4)
    assert second.transferred_from == "200:514"
    assert (second.from_party.number, second.from_party.extension) == ("74955404444", None)  # the customer
    assert (second.to_party.extension, second.ended_at, second.disconnect_reason) == ("321", 1398957015, 1110)
    assert not first.rings_initiator and not second.rings_initiator


def test_p54_blind_transfer_from_333_to_321(deliver: Any, tenant: Tenant) -> None:
    """p.54–56 «Перевод вызова без консультации»: the customer talks to 333, who calls 321 on a new leg;
    333 hangs up and «Вызов … замещен на вызов с номера "74955404444" на номер "87654321"»; 321 answers."""
    deliver(notifications("p54-56-blind-transfer.txt"))
    call = folded(tenant)
    assert (call.direction, call.answered, call.talked_extensions) == ("incoming", True, ["333", "321"])
    first, second = legs(call)["300:200"], legs(call)["400-200"]
    assert (first.location, first.state, first.disconnect_reason) == (None, "Disconnected", 1120)
    assert second.transferred_from == "300:200"
    assert (second.from_party.number, second.to_party.extension) == ("74955404444", "321")
    assert (second.connected_at, second.ended_at, second.disconnect_reason) == (1399957016, 1399957036, 1110)


def test_p58_dtmf_collected_in_the_ivr_then_routed_to_12(deliver: Any, tenant: Tenant, aws: Any) -> None:
    """p.57–59 «Обработка нажатий DTMF-клавиш»: the caller presses 1, then types 123456789 in menu item 1
    («location: "ivr.1"»), the external system routes the call to 12 (`result` 1000) and «Начинается
    соединение абонента А с номером С»."""
    deliver(walkthrough("p58-59-dtmf.txt"))
    call = folded(tenant, "MjY4Nzg2ODQwMTo4MQ==")
    assert (call.direction, call.answered, call.talked_extensions) == ("incoming", False, [])
    assert [(d.digits, d.location) for d in call.dtmf] == [("1", "ivr"), ("123456789", "ivr.1")]
    ivr, employee = (
        legs(call)["MToxMDAwOTU2NTo4MTozMTI2OTQyNDA6MQ=="],
        legs(call)["MToxMDAwOTU2NTo4MTozMTI2OTU1Nzk="],
    )
    assert (ivr.location, employee.location) == ("ivr", "abonent")
    assert employee.transferred_from == ivr.call_id
    assert (employee.to_party.extension, employee.to_party.number) == ("12", "79260297870")
    assert call.line_number == "74952150438"
    assert command_results(aws, tenant) == {"cid1488272666": {"command_id": "cid1488272666", "result": 1000}}
