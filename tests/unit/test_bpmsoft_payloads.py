"""Pure parts of the BPMSoft adapter: the Call row, ДКТ values, speech-analytics texts, ids and the
schema read from `$metadata`."""

from __future__ import annotations

import datetime as dt

from mango_bridge.calls.visitor import Visitor
from mango_bridge.crm.bpmsoft import parse_metadata
from mango_bridge.crm.bpmsoft import payloads as p
from mango_bridge.crm.port import CallAnnotation, TranscriptPhrase
from mango_bridge.policy.intents import LogCall, SaveCallTracking

CREATIO_LIKE = """<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
<Schema Namespace="Terrasoft.Configuration.OData" xmlns="http://docs.oasis-open.org/odata/ns/edm">
<EntityType Name="Call"><Key><PropertyRef Name="Id"/></Key>
<Property Name="Id" Type="Edm.Guid" Nullable="false"/><Property Name="CallerId" Type="Edm.String"/>
<NavigationProperty Name="Contact" Type="Terrasoft.Configuration.OData.Contact"/></EntityType>
<EntityType Name="Contact"><Property Name="Id" Type="Edm.Guid"/><Property Name="Name" Type="Edm.String"/></EntityType>
<EntityContainer Name="Default"><EntitySet Name="Call" EntityType="Terrasoft.Configuration.OData.Call"/>
<EntitySet Name="Contact" EntityType="Terrasoft.Configuration.OData.Contact"/></EntityContainer>
</Schema></edmx:DataServices></edmx:Edmx>"""


def log_call(**fields: object) -> LogCall:
    values: dict[str, object] = {
        "key": "log_call:leg-9",
        "reason": "t",
        "direction": "outgoing",
        "result": "not_reached",
        "started_at": 1_772_700_000,
        "duration_seconds": 0,
        "responsible_user_id": "u",
        "bound_by": "employee",
        "employee_extension": "106",
        "talk_leg_ids": (),
        "leg_ids": ("leg-9",),
        "phone": "+74955404444",
        "customer": None,
    }
    return LogCall.model_validate({**values, **fields})


def test_metadata_gives_each_entity_set_its_columns_and_lookup_ids() -> None:
    schema = parse_metadata(CREATIO_LIKE)
    assert (
        schema.has("Call", "ContactId")
        and schema.has("Call", "CallerId")
        and not schema.has("Call", "LeadId")
    )
    kept, skipped = schema.fit("Call", {"CallerId": "1", "UsrMcbQualityScore": 5})
    assert kept == {"CallerId": "1"} and skipped == ["Call.UsrMcbQualityScore"]
    assert not schema.has("Lead")


def test_outgoing_not_reached_call_row() -> None:
    row = p.call_row(log_call(), call_id="c", parent_leg=None)
    assert row["DirectionId"] == p.OUTGOING and (row["CallerId"], row["CalledId"]) == ("106", "74955404444")
    assert row["IntegrationId"] == "leg-9" and row["TalkTime"] == 0 and row["EndDate"] == row["StartDate"]
    assert "ParentCallId" not in row and row["OwnerId"] == "u"
    assert p.call_extras(log_call(), entry_id="E", urls=[], status="Недозвон") == {
        "entry_id": "E",
        "call_status": "Недозвон",
    }


def test_call_numbers_and_caption_as_seed_000_shows_them() -> None:
    """Figure 89: «Номер От» 74955404444, «Номер Кому» 74953745669 (the line dialled); the card's title
    «Incoming 2023-10-24 05:36:45»."""
    incoming = log_call(
        direction="incoming",
        line_number="+7 (495) 374-56-69",
        started_at=1_698_125_805,
        phone="+74955404444",
    )
    row = p.call_row(incoming, call_id="c", parent_leg=None)
    assert (row["CallerId"], row["CalledId"]) == ("74955404444", "74953745669")
    assert row["Caption"] == "Incoming 2023-10-24 05:36:45"
    assert p.auto_contact_name("+7 (495) 540-44-44") == "Auto #74955404444"
    moment = dt.datetime(2023, 10, 23, 18, 7, 45)
    assert p.integration_name("Контрагент", moment) == "Интеграция Контрагент Новый (2023.10.23 18:07:45)"


def test_stable_ids_are_per_call_and_intent() -> None:
    assert p.stable_id("E", "create_contact") == p.stable_id("E", "create_contact")
    assert p.stable_id("E", "create_contact") != p.stable_id("E2", "create_contact")
    assert p.is_guid(p.stable_id("E", "k"))


def test_numbers_match_by_their_last_ten_digits_and_phones_go_to_the_right_column() -> None:
    assert p.same_number("+7 (916) 123-45-67", "89161234567")
    assert not p.same_number("+7 (916) 123-45-68", "+79161234567")
    assert p.last_digits("123") is None
    assert p.phone_column("Contact", "+79161234567") == "MobilePhone"
    assert p.phone_column("Contact", "+74951234567") == "Phone"
    assert p.phone_column("Lead", "+74951234567") == "BusinesPhone"
    assert p.literal("O'Нил") == "'O''Нил'"


def test_dkt_values_follow_the_guides_fields_and_skip_the_empty_ones() -> None:
    visitor = Visitor(client_id="uid", ya_client_id="ya", roistat_id="rs", new_visitor=False, time_on_site=12)
    intent = SaveCallTracking(
        key="k", reason="t", targets=(), tracking_number="7495", number_type="static", visitor=visitor
    )
    assert p.dct_values(intent) == {
        "dct_client_id": "uid",
        "dct_ya_client_id": "ya",
        "dct_time_on_site": 12,
        "dct_roistat_id": "rs",
        "dct_number_type": "статический",
        "dct_new_visitor": False,
    }
    bare = SaveCallTracking(key="k", reason="t", targets=(), tracking_number="7495", number_type="dynamic")
    assert p.dct_values(bare) == {"dct_number_type": "динамический"}


def test_transcripts_are_kept_per_recording_and_topics_once_each() -> None:
    one = CallAnnotation(
        key="a",
        recording_id="r1",
        transcript=(TranscriptPhrase(speaker="operator", name="А", text="Добрый день."),),
    )
    two = CallAnnotation(
        key="b",
        recording_id="r2",
        transcript=(TranscriptPhrase(speaker="client", name="К", text="Здравствуйте."),),
    )
    text = p.merged_transcript(p.merged_transcript(None, one), two)
    assert text == '[запись r1]\n"Сотрудник": "Добрый день."\n\n[запись r2]\n"Клиент": "Здравствуйте."'
    assert p.merged_transcript(text, one) == text
    assert p.merged_topics("A; B", ("B", "C")) == "A; B; C"
    assert p.merged_topics(None, ()) is None
