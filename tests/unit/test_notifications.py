"""Every sample payload from the reference (§9) parses; bad payloads are named precisely."""

import pytest

from mango_bridge.mango.notifications import (
    CallEvent,
    CommandResult,
    DtmfEvent,
    MalformedNotification,
    RecordingEvent,
    RecordStored,
    SummaryEvent,
    UnknownNotification,
    normalise_suffix,
    parse_notification,
)

SAMPLES = [
    (
        "events/call",
        '{"entry_id":"MzUyODbvczg4OTo0MDE=","call_id":"MzUyODbvczg4OTo0MDEMzUyODbvczg4O",'
        '"timestamp":1522347638,"seq":1,"call_state":"Appeared","location":"abonent",'
        '"from":{"number":"74991102914","taken_from_call_id":"MzUyODbvczg4OMzUyODbvczg4OMzUyODbvcg"},'
        '"to":{"extension":"101","number":"sip:example@domain.mangosip.ru","line_number":"74952129298",'
        '"acd_group":"22"},"dct":{"type":0}}',
        CallEvent,
    ),
    (
        "events/call",
        '{"entry_id":"1MN0Q1MDOQ==","call_id":"MIxEyNTzTo6NDxkzNMMOzNQ==","timestamp":1558422128,'
        '"seq":2,"call_state":"Disconnected","location":"abonent","from":{"number":"79001234567",'
        '"taken_from_call_id":"oMNTMyzTzNTo6NxNkDIxOxM3EMNTj"},"to":{"extension":"29",'
        '"number":"sip:user00000@tech.mangosip.ru","line_number":"sip:line00000@tech.mangosip.ru",'
        '"acd_group":"303"},"disconnect_reason":1131,"dct":{"number":"74001234567","type":1}}',
        CallEvent,
    ),
    (
        "events/call",
        '{"entry_id":"MzQ1Mzc1MzUxMzoxNjE=","call_id":"MToxMDA3MTYxNToxNjE6Nzc2MTY1NjA4OjE=",'
        '"timestamp":1513707786,"seq":1,"call_state":"Appeared","location":"ivr","from":{"number":"79997356761"},'
        '"to":{"number":"74994509495","line_number":"74994509495"}}',
        CallEvent,
    ),
    (
        "events/call",
        '{"to":{"number":"sip:user3@vpbx400210093.mangosip.ru","acd_group":"100","extension":"103",'
        '"line_number":"84951111111"},"dct":{"type":0},"seq":1,"from":{"number":"78442297678",'
        '"taken_from_call_id":"MToxMDE1OTY4MDoyMjE6Mjg2NTY1MzQyOjE="},"call_id":"MToxMDE1OTY4MDoyMjE6Mjg2NTY1MzY4",'
        '"entry_id":"MTI4OTY2MjMzMTk=","location":"abonent","timestamp":1634561740,"call_state":"Appeared",'
        '"disconnect_reason":1121}',
        CallEvent,
    ),
    (
        "events/summary",
        '{"entry_id":"MzUyODbvczg4OTo0MDE=","call_direction":1,"from":{"extension":"360",'
        '"number":"sip:example@domain.mangosip.ru"},"to":{"number":"74995013402"},"line_number":"74991102914",'
        '"create_time":1516454940,"forward_time":1516454940,"talk_time":1516454940,"end_time":1516454946,'
        '"entry_result":1,"disconnect_reason":1110}',
        SummaryEvent,
    ),
    (
        "events/summary",
        '{"entry_id":"232wc3e3w3s222","call_direction":1,"from":{"number":"79000000000"},"to":{},'
        '"line_number":"7800123456789","create_time":1399906976,"forward_time":1399906978,"talk_time":0,'
        '"end_time":1399906990,"entry_result":1,"disconnect_reason":1170}',
        SummaryEvent,
    ),
    (
        "events/recording",
        '{"recording_id":"MToxMjI3NTM6MzUyODbvczg4OTow","recording_state":"Started","seq":1,'
        '"entry_id":"MzUyODbvczg4OTo0MDE=","call_id":"MToxMjI3NTM6NDAxOjYyODMxMTI1OA==","extension":"360",'
        '"timestamp":1516454940,"recipient":"Cloud"}',
        RecordingEvent,
    ),
    (
        "events/recording",
        '{"recording_id":"r100:777:500:256","recording_state":"Started","seq":1,'
        '"call_id":"100:500:256","entry_id":"232wc3e3w3s222","extension":"1234","timestamp":"1399906976",'
        '"command_id":"cmd.12.vpbx.12345.external.system.com.net"}',
        RecordingEvent,
    ),
    (
        "events/record/added",
        '{"entry_id":"NTAwOTQxMTAyMg==","product_id":300022532,"user_id":300049012,'
        '"timestamp":1578664187,"recording_id":"MToxMDAwNjA4NTo1MDA5NDExMDIyOjE="}',
        RecordStored,
    ),
    (
        "events/record/tagged",
        '{"entry_id":"NTAwOTQxMTAyMg==","product_id":300022532,"user_id":-1,'
        '"timestamp":1578664187,"recording_id":"MToxMDAwNjA4NTo1MDA5NDExMDIyOjE="}',
        RecordStored,
    ),
    (
        "events/dtmf",
        '{"seq":2,"dtmf":"123456789","timestamp":1488272662,'
        '"call_id":"MToxMDAwOTU2NTo4MTozMTI2OTQyNDA6MQ==","entry_id":"MjY4Nzg2ODQwMTo4MQ==","location":"ivr.1",'
        '"initiator":"74955404444","from_number":"74955404444","to_number":"74952150438",'
        '"line_number":"74952150438"}',
        DtmfEvent,
    ),
    ("result/route", '{"command_id":"cid1488272666","result":1000}', CommandResult),
    ("result/callback", '{"command_id":"cbk1","result":"1000"}', CommandResult),
    ("events/sms", '{"command_id":"sms1","timestamp":1399906976,"reason":1000}', None),
    (
        "events/recognized/offline",
        '{"product_id":1,"request_id":"r1","recognized":1647946810404,"result":1000}',
        None,
    ),
]


@pytest.mark.parametrize(("suffix", "json_text", "model"), SAMPLES)
def test_reference_samples_parse(suffix: str, json_text: str, model: type | None) -> None:
    parsed = parse_notification(suffix, json_text)
    if model is not None:
        assert isinstance(parsed, model)
    assert parsed.natural_key


def test_strings_and_numbers_are_both_accepted() -> None:
    as_strings = parse_notification(
        "events/call",
        '{"entry_id":"e","call_id":"c","timestamp":"1399906976","seq":"3","call_state":"Disconnected",'
        '"from":{"extension":101},"to":{"number":"74955404444","acd_group":""},"disconnect_reason":"1120"}',
    )
    assert isinstance(as_strings, CallEvent)
    assert (as_strings.seq, as_strings.timestamp, as_strings.disconnect_reason) == (3, 1399906976, 1120)
    assert as_strings.from_.extension == "101"
    assert as_strings.to.acd_group == ""


def test_extension_keeps_leading_zeros_and_unknown_fields_survive() -> None:
    event = parse_notification(
        "events/call",
        '{"entry_id":"e","call_id":"c","timestamp":1,"seq":1,"call_state":"Appeared",'
        '"to":{"extension":"0511"},"campaign_id":77}',
    )
    assert isinstance(event, CallEvent)
    assert event.to.extension == "0511"
    assert event.model_extra == {"campaign_id": 77}


def test_result_command_name_comes_from_the_suffix() -> None:
    result = parse_notification("result/call/hangup", '{"command_id":"h1","result":4101}')
    assert isinstance(result, CommandResult)
    assert (result.kind, result.result) == ("result/call/hangup", 4101)


def test_unknown_suffix_is_kept_not_rejected() -> None:
    parsed = parse_notification("events/user/status_changed", '{"user_id":5,"status":"away"}')
    assert isinstance(parsed, UnknownNotification)
    assert parsed.data == {"user_id": 5, "status": "away"}


@pytest.mark.parametrize(
    ("json_text", "named"),
    [
        ("{not json", "not valid JSON"),
        ("[1,2]", "must be a JSON object"),
        ('{"call_id":"c","timestamp":1,"seq":1,"call_state":"Appeared"}', "entry_id"),
        ('{"entry_id":"e","call_id":"c","timestamp":1,"seq":"x","call_state":"Appeared"}', "seq"),
        ('{"entry_id":"e","call_id":"c","timestamp":1,"seq":1,"call_state":"Ringing"}', "call_state"),
    ],
)
def test_malformed_payloads_name_the_problem(json_text: str, named: str) -> None:
    with pytest.raises(MalformedNotification, match=named):
        parse_notification("events/call", json_text)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("events/call", "events/call"),
        ("/events/summary/", "events/summary"),
        ("vpbx/api/v1/result/route", "result/route"),
        ("PING", "ping"),
    ],
)
def test_suffix_normalisation(raw: str, clean: str) -> None:
    assert normalise_suffix(raw) == clean
