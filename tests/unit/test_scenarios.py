"""Every bundled Mango scenario renders into notifications the bridge's parser accepts, with the
per-leg seq discipline Mango follows, and its `expect` block agrees with its own notifications."""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mango_bridge.mango.notifications import (
    CallEvent,
    CommandResult,
    DtmfEvent,
    RecordingEvent,
    RecordStored,
    SummaryEvent,
    UnknownNotification,
    entry_id_of,
    parse_notification,
)
from sandbox.mango.player import Delivery, Rendered, list_scenarios, load_scenario, render, scenarios_dir
from sandbox.mango.scenario import MOSCOW, ScenarioError, iso_utc

BASE_TIME = 1_764_000_000  # 2025-11-24 19:00 MSK
SCENARIOS = list_scenarios()
STORIES = [path for path in SCENARIOS if not load_scenario(path).is_playlist]
DIRECTIONS = {0: "internal", 1: "incoming", 2: "outgoing"}
REQUIRED = {
    "incoming-answered",
    "queue-parallel",
    "queue-serial",
    "missed-ivr",
    "missed-group",
    "consultative-transfer",
    "blind-transfer",
    "blind-transfer-return",
    "callback",
    "outgoing",
    "internal",
    "dtmf-route",
    "short-call",
    "demo-day",
}


@functools.cache
def rendered_for(path: Path, seed: int = 3) -> Rendered:
    return render(load_scenario(path), base_time=BASE_TIME, seed=seed)


def parsed(deliveries: list[Delivery]) -> list[tuple[Delivery, Any]]:
    return [(delivery, parse_notification(delivery.suffix, delivery.json_text)) for delivery in deliveries]


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return [value] if isinstance(value, str) else []


def test_the_catalogue_is_complete() -> None:
    assert {path.stem for path in SCENARIOS} >= REQUIRED
    assert (scenarios_dir() / "README.md").is_file()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_every_delivery_is_a_notification_the_bridge_parses(path: Path) -> None:
    rendered = rendered_for(path)
    assert rendered.deliveries
    for delivery, notification in parsed(rendered.deliveries):
        assert not isinstance(notification, UnknownNotification), delivery.suffix
        data = json.loads(delivery.json_text)
        assert delivery.json_text == json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if isinstance(notification, CommandResult):
            assert notification.command_id and notification.result is not None
        else:
            assert entry_id_of(notification) in rendered.entry_ids.values()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_no_placeholder_survives_rendering(path: Path) -> None:
    for delivery in rendered_for(path).deliveries:
        for text in strings_in(json.loads(delivery.json_text)):
            assert "$" not in text, (delivery.suffix, text)
            assert not re.fullmatch(r"@[\w.-]+|T(\s*[+-]\s*\d+)?", text), (delivery.suffix, text)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_each_leg_counts_seq_from_one_and_ends_with_one_disconnected(path: Path) -> None:
    legs: dict[str, list[CallEvent]] = defaultdict(list)
    for _, notification in parsed(rendered_for(path).deliveries):
        if isinstance(notification, CallEvent):
            legs[notification.call_id].append(notification)
    assert legs
    for call_id, events in legs.items():
        by_seq = sorted(events, key=lambda event: event.seq)
        assert [event.seq for event in by_seq] == list(range(1, len(events) + 1)), call_id
        states = [event.call_state for event in by_seq]
        assert states.count("Disconnected") == 1 and states[-1] == "Disconnected", (call_id, states)
        assert by_seq[-1].disconnect_reason is not None
        timestamps = [event.timestamp for event in by_seq]
        assert timestamps == sorted(timestamps), call_id


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_recordings_and_dtmf_keep_their_own_seq(path: Path) -> None:
    recordings: dict[str, list[RecordingEvent]] = defaultdict(list)
    dtmf: dict[str, list[DtmfEvent]] = defaultdict(list)
    for _, notification in parsed(rendered_for(path).deliveries):
        if isinstance(notification, RecordingEvent):
            recordings[notification.recording_id].append(notification)
        elif isinstance(notification, DtmfEvent):
            dtmf[notification.call_id].append(notification)
    for recording_id, events in recordings.items():
        assert [event.seq for event in events] == list(range(1, len(events) + 1)), recording_id
        assert events[0].recording_state == "Started"
        assert events[-1].recording_state == "Completed"
        assert events[-1].completion_code is not None
    for call_id, events in dtmf.items():
        assert [event.seq for event in events] == list(range(1, len(events) + 1)), call_id


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_every_entry_has_exactly_one_summary_and_an_expectation(path: Path) -> None:
    rendered = rendered_for(path)
    summaries = Counter(
        notification.entry_id
        for _, notification in parsed(rendered.deliveries)
        if isinstance(notification, SummaryEvent)
    )
    assert summaries == Counter(rendered.entry_ids.values())
    assert set(rendered.expect) == set(rendered.entry_ids.values())


def observed_journal(rendered: Rendered, entry_id: str) -> dict[str, Any]:
    """What the journal should show, counted from the notifications as scenarios/README.md defines it."""
    notes = [n for _, n in parsed(rendered.deliveries) if entry_id_of(n) == entry_id]
    (summary,) = [n for n in notes if isinstance(n, SummaryEvent)]
    calls = [n for n in notes if isinstance(n, CallEvent)]
    answered_legs: dict[str, str] = {}
    for event in calls:
        if event.call_state == "Connected" and event.call_id not in answered_legs:
            answered_legs[event.call_id] = event.to.extension or event.from_.extension or ""
    rings: set[str] = set()  # a callback's ring of its initiator: the child leg swaps its parties
    for event in calls:
        ring = event.from_.taken_from_call_id
        for parent in (c for c in calls if c.call_id == ring and (c.command_id or c.callback_initiator)):
            caller_shown = parent.from_.number or parent.from_.extension
            swapped = parent.to.extension == event.from_.extension and caller_shown in (
                event.to.number,
                event.to.extension,
            )
            if parent.to.extension and swapped:
                rings.add(parent.call_id)
    talk_time = summary.talk_time or 0
    observed: dict[str, Any] = {
        "direction": DIRECTIONS[summary.call_direction or 0],
        "answered": talk_time > 0,
        "talk_seconds": (summary.end_time or 0) - talk_time if talk_time else 0,
        "started_at": iso_utc(summary.create_time or 0),
        "ended_at": iso_utc(summary.end_time or 0),
        "legs": len({event.call_id for event in calls}),
        "answered_legs": list(answered_legs.values()),
        "talked": [ext for call_id, ext in answered_legs.items() if call_id not in rings],
        "recordings": len({n.recording_id for n in notes if isinstance(n, RecordingEvent)}),
        "recordings_ready": len({n.recording_id for n in notes if isinstance(n, RecordStored)}),
        "caller": summary.from_.model_dump(include={"number", "extension"}, exclude_none=True),
        "callee": summary.to.model_dump(include={"number", "extension"}, exclude_none=True),
        "line_number": summary.line_number,
    }
    assert (summary.entry_result == 1) == observed["answered"], "entry_result disagrees with talk_time"
    return observed


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_expectations_agree_with_the_notifications(path: Path) -> None:
    rendered = rendered_for(path)
    for entry_id, expected in rendered.expect.items():
        observed = observed_journal(rendered, entry_id)
        where = f"{path.stem} {expected['entry']}"
        for key in ("direction", "answered", "talk_seconds", "legs", "answered_legs", "recordings"):
            assert expected[key] == observed[key], (where, key)
        assert expected.get("talked", expected["answered_legs"]) == observed["talked"], (where, "talked")
        for key in ("started_at", "ended_at", "recordings_ready"):
            if key in expected:
                assert expected[key] == observed[key], (where, key)
        for offset, moment in (("started", "started_at"), ("ended", "ended_at")):
            if offset in expected:
                assert iso_utc(rendered.base_time + expected[offset]) == expected[moment], (where, offset)
        assert expected.get("caller", {}) == observed["caller"], where
        assert expected.get("callee", {}) == observed["callee"], where
        assert expected.get("line_number") == observed["line_number"], where


def test_generated_ids_are_opaque_base64_with_the_awkward_characters() -> None:
    ids = [value for path in SCENARIOS for value in rendered_for(path).ids.values()]
    assert len(ids) == len(set(ids))
    for value in ids:
        assert "+" in value and "/" in value and value.endswith("=")
        assert base64.b64decode(value, validate=True)


def test_rendering_is_reproducible_and_seeded() -> None:
    path = scenarios_dir() / "consultative-transfer.yaml"
    first, again, other = rendered_for(path, seed=1), rendered_for(path, seed=1), rendered_for(path, seed=2)
    assert first.deliveries == again.deliveries
    assert set(first.ids.values()).isdisjoint(other.ids.values())


def test_the_suite_mixes_strings_and_numbers_like_real_payloads() -> None:
    types: dict[str, set[type]] = defaultdict(set)
    for path in STORIES:
        for delivery in rendered_for(path).deliveries:
            data = json.loads(delivery.json_text)
            for key in ("seq", "timestamp", "disconnect_reason", "result"):
                if key in data:
                    types[key].add(type(data[key]))
    for key in ("seq", "timestamp", "disconnect_reason", "result"):
        assert types[key] == {str, int}, key


def test_late_notifications_keep_the_time_they_describe() -> None:
    rendered = rendered_for(scenarios_dir() / "incoming-answered.yaml")
    suffixes = [delivery.suffix for delivery in rendered.deliveries]
    summary_at = suffixes.index("events/summary")
    assert suffixes[summary_at + 1 :] == ["events/recording", "events/record/added"]
    summary = json.loads(rendered.deliveries[summary_at].json_text)
    completed = json.loads(rendered.deliveries[summary_at + 1].json_text)
    assert completed["recording_state"] == "Completed"
    assert completed["timestamp"] == summary["end_time"]
    assert rendered.deliveries[summary_at + 1].at >= rendered.deliveries[summary_at].at


def test_the_consultative_transfer_substitutes_the_customer_on_the_consultation_leg() -> None:
    rendered = rendered_for(scenarios_dir() / "consultative-transfer.yaml")
    calls = [n for _, n in parsed(rendered.deliveries) if isinstance(n, CallEvent)]
    first_leg, consultation = rendered.ids["a"], rendered.ids["b"]
    connected = [(e.seq, e.transfer, e.from_.number) for e in calls if e.call_id == consultation]
    assert connected[1][1] == "consultative" and connected[2][1] == "blind"
    customer = calls[0].from_.number
    assert connected[2][2] == customer
    assert [e.from_.taken_from_call_id for e in calls if e.call_id == consultation][2] == first_leg


def test_demo_day_spreads_fifteen_calls_over_a_moscow_working_day() -> None:
    rendered = rendered_for(scenarios_dir() / "demo-day.yaml")
    assert len(rendered.entry_ids) == 15
    assert [d.at for d in rendered.deliveries] == sorted(d.at for d in rendered.deliveries)
    day = datetime.fromtimestamp(BASE_TIME, MOSCOW).date()
    starts = sorted(
        datetime.fromisoformat(block["started_at"].replace("Z", "+00:00")).astimezone(MOSCOW)
        for block in rendered.expect.values()
    )
    assert {start.date() for start in starts} == {day}
    assert starts[0].hour == 9 and starts[-1].hour == 18
    assert all(name.split("-", 1)[0].isdigit() for name in rendered.entry_ids)
    overlapping = [b for a, b in itertools.pairwise(starts) if b - a < timedelta(minutes=2)]
    assert overlapping, "the demo day should have at least two overlapping calls"
    assert {block["scenario"] for block in rendered.expect.values()} >= REQUIRED - {"demo-day"}


def test_playlist_day_can_be_fixed_in_the_file(tmp_path: Path) -> None:
    playlist = tmp_path / "day.yaml"
    playlist.write_text(
        "name: fixed\nday: 2024-03-01\ncalls:\n  - {at: '08:30', scenario: internal}\n  - {at: 10:15:00, scenario: outgoing}\n"
    )
    rendered = render(load_scenario(playlist), base_time=BASE_TIME)
    assert sorted(block["started_at"] for block in rendered.expect.values()) == [
        "2024-03-01T05:30:00Z",
        "2024-03-01T07:15:00Z",
    ]


def test_vars_overrides_reach_payloads_and_expectations(tmp_path: Path) -> None:
    playlist = tmp_path / "one.yaml"
    playlist.write_text(
        "name: one\ncalls:\n  - {at: '12:00', scenario: missed-ivr, vars: {caller: '70000000001'}}\n"
    )
    rendered = render(load_scenario(playlist), base_time=BASE_TIME)
    (expected,) = rendered.expect.values()
    assert expected["caller"] == {"number": "70000000001"}
    assert all('"70000000001"' in d.json_text for d in rendered.deliveries)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nsteps:\n  - {t: 0, event: events/call, data: {call_id: '@a', from: {number: $nobody}}}\n",
            "nobody",
        ),
        ("name: x\nsteps:\n  - {t: 0, event: '/events call', data: {}}\n", "URL suffix"),
        ("name: x\nsteps:\n  - {t: 0, event: events/call, data: {}}\n", "call_id"),
        ("name: x\nsteps:\n  - {t: 0, event: events/call, data: {call_id: '@a'}, entry: plain}\n", "@name"),
        (
            "name: x\nsteps:\n  - {t: 0, event: events/dtmf, data: {call_id: '@a'}}\n"
            "expect: {'@b': {direction: internal, answered: false, talk_seconds: 0, legs: 0}}\n",
            "no step uses",
        ),
        ("name: x\nsteps: []\n", "either"),
        ("name: x\nsteps:\n  - {t: 0, event: events/call, data: {call_id: '@a'}, typo: 1}\n", "typo"),
        ("- just a list\n", "mapping"),
    ],
)
def test_mistakes_in_a_scenario_file_are_reported_with_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message) as caught:
        render(load_scenario(path), base_time=BASE_TIME)
    assert "broken.yaml" in str(caught.value)


def test_base_time_is_utc_epoch() -> None:
    rendered = rendered_for(scenarios_dir() / "internal.yaml")
    (expected,) = rendered.expect.values()
    assert expected["started_at"] == datetime.fromtimestamp(BASE_TIME, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
