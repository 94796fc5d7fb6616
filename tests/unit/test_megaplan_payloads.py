"""Megaplan request bodies and answers as data: what is searched, sent and read back."""

from __future__ import annotations

from mango_bridge.calls.visitor import Visitor
from mango_bridge.crm.megaplan import payloads as p
from mango_bridge.crm.megaplan.client import error_messages, json_query
from mango_bridge.policy.facts import EntityRef
from mango_bridge.policy.intents import LogCall


def test_search_uses_the_last_ten_digits_and_verifies_the_phone() -> None:
    assert p.search_digits("+7 (916) 123-45-67") == "9161234567"
    assert p.search_digits("123") is None
    client = {
        "contactInfo": [
            {"type": "email", "value": "9161234567@x.ru"},
            {"type": "phone", "value": "8 916 123-45-67"},
        ]
    }
    assert p.has_number(client, "9161234567")
    assert not p.has_number({"contactInfo": [{"type": "email", "value": "9161234567@x.ru"}]}, "9161234567")


def test_responsibles_keep_megaplans_order_and_clients_never_pass_for_employees() -> None:
    contractor = {
        "contentType": "ContractorHuman",
        "id": "7",
        "name": "Иван",
        "responsibles": [
            {"contentType": "ContractorHuman", "id": "8000002"},
            {"contentType": "Employee", "id": "8000002"},
            {"contentType": "Group", "id": "5"},
        ],
        "Category183CustomFieldSrc": "74950000000",
    }
    found = p.found_entity(contractor, ["11"], {"Category183CustomFieldSrc": "Номер линии MANGO OFFICE"})
    assert found.responsible_user_ids == ("ContractorHuman:8000002", "8000002", "Group:5")
    assert found.open_deal_ids == ("11",)
    assert found.fields["Номер линии MANGO OFFICE"] == "74950000000"
    (client,) = p.client_users([contractor])
    assert client.is_client and not client.can_be_responsible


def test_deal_openness_follows_the_state_type() -> None:
    assert p.is_open_deal({"state": {"type": "active"}})
    assert not p.is_open_deal({"state": {"type": "positive"}})
    assert not p.is_open_deal({"state": {"type": "negative"}})


def test_a_new_person_carries_the_whole_auto_name_phone_and_responsible() -> None:
    body = p.contractor_body(
        "contact",
        name="Новый (16:30 05.03.2018, входящий вызов)",
        responsible="8000001",
        phone="+74951234567",
        extra={"Category183CustomFieldX": "74950000000"},
    )
    assert body == {
        "contentType": "ContractorHuman",
        "firstName": "Новый (16:30 05.03.2018, входящий вызов)",
        "contactInfo": [
            {"contentType": "ContactInfo", "type": "phone", "value": "+74951234567", "isMain": True}
        ],
        "responsibles": [{"contentType": "Employee", "id": "8000001"}],
        "userCreated": {"contentType": "Employee", "id": "8000001"},
        "Category183CustomFieldX": "74950000000",
    }


def test_an_outgoing_call_runs_from_the_employee_to_the_client() -> None:
    intent = LogCall(
        key="log_call:a",
        reason="r",
        direction="outgoing",
        result="not_reached",
        started_at=0,
        duration_seconds=0,
        responsible_user_id="8000007",
        bound_by="employee",
        employee_extension="106",
        talk_leg_ids=(),
        leg_ids=("a",),
        line_number=None,
        phone="+79160000000",
        customer=EntityRef(kind="company", id="9"),
    )
    body = p.call_info_body(
        intent, provider_id="e:log_call:a", line="", employee="8000007", client=intent.customer, links=[]
    )
    assert (body["fromUser"], body["toUser"]) == (
        {"contentType": "Employee", "id": "8000007"},
        {"contentType": "ContractorCompany", "id": "9"},
    )
    assert (body["toPhone"], body["type"], body["state"]) == ("+79160000000", "fail", "finished")


def test_tracking_values_name_the_fields_as_seed_001() -> None:
    values = p.tracking_values("74957770011", "static", Visitor(client_id="c1", time_on_site=120))
    assert values == {
        "ДКТ: number": "74957770011",
        "ДКТ: client_id": "c1",
        "ДКТ: time_on_site": "120",
        "ДКТ: number_type": "статический",
    }
    assert "ДКТ: client_id" in p.TRACKING_FIELDS


def test_get_parameters_are_one_url_encoded_json_object() -> None:
    assert json_query({"q": "+7 916", "limit": 10}) == "?%7B%22q%22%3A%22%2B7%20916%22%2C%22limit%22%3A10%7D"
    assert json_query(None) == ""


def test_error_messages_name_the_fields() -> None:
    body = {
        "meta": {
            "status": 422,
            "errors": [{"fields": ["contactInfo"], "message": "Неверный номер"}, {"message": "x"}],
        }
    }
    assert error_messages(body) == ["contactInfo: Неверный номер", "x"]
