"""Statistics in the Mango API sandbox (CSV and extended JSON), the call history behind them, and
dropped calls in the player."""

from __future__ import annotations

import functools
import json
import threading
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from mango_bridge.mango.signature import sign
from sandbox.__main__ import main as sandbox_main
from sandbox.faults import ManualClock
from sandbox.mango.api import RATE_LIMIT_BODY, MangoApiSandbox
from sandbox.mango.player import MOSCOW, Rendered, drop_calls, load_scenario, render
from sandbox.mango.stats import (
    DEFAULT_CSV_FIELDS,
    CallHistory,
    StatsCall,
    generate_day,
    history_from_deliveries,
)

KEY = "9ipl5monmwkkyg3adfx2s6frz7b"
SALT = "cv3z37sqp6kvsjs4i7vd3lf6r5rwztg2"
DAY = date(2025, 11, 24)
MIDNIGHT = int(datetime(2025, 11, 24, tzinfo=MOSCOW).timestamp())


@functools.cache
def rendered(name: str, base_time: int = MIDNIGHT + 9 * 3600, seed: int = 1) -> Rendered:
    return render(load_scenario(name), base_time=base_time, seed=seed)


def signed(payload: dict) -> dict[str, str]:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return {"vpbx_api_key": KEY, "sign": sign(KEY, text, SALT), "json": text}


@pytest.fixture
def mango() -> Iterator[MangoApiSandbox]:
    with MangoApiSandbox(api_key=KEY, api_salt=SALT, stats_rate_limit_seconds=0) as sandbox:
        yield sandbox


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=60) as http:
        yield http


def request_key(client: httpx.Client, mango: MangoApiSandbox, **payload: object) -> str:
    response = client.post(mango.url + "stats/request", data=signed(payload))
    assert response.status_code == 200, response.text
    return response.json()["key"]


def fetch_csv(client: httpx.Client, mango: MangoApiSandbox, key: str) -> httpx.Response:
    """Poll as a client does (without the 5 s pause) until the CSV is there."""
    for _ in range(5):
        response = client.post(mango.url + "stats/result", data=signed({"key": key}))
        if response.status_code != 204:
            return response
    raise AssertionError("still 204 after 5 polls")


def rows(text: str) -> list[list[str]]:
    assert text.endswith("\n") or text == ""
    return [line.split(";") for line in text.split("\n")[:-1]]


# -- the CSV statistics ---------------------------------------------------------------------------


def test_csv_has_one_row_per_employee_leg_in_the_requested_column_order(
    mango: MangoApiSandbox, client: httpx.Client
) -> None:
    story = rendered("queue-parallel")
    mango.record_history(history_from_deliveries(story.deliveries))
    entry_id = story.entry_ids["entry"]
    key = request_key(
        client,
        mango,
        date_from=MIDNIGHT,
        date_to=MIDNIGHT + 86399,
        fields="entry_id, to_extension, answer, records, start",
    )
    response = fetch_csv(client, mango, key)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = rows(response.text)
    assert [row[:2] for row in table] == [[entry_id, "101"], [entry_id, "102"], [entry_id, "103"]]
    answered = [row for row in table if row[2] != "0"]
    assert len(answered) == 1 and answered[0][1] == "102"
    assert answered[0][3] == f"[{story.ids['rec']}]"
    assert all(row[4] == str(MIDNIGHT + 9 * 3600 + 7) for row in table)
    assert {row[3] for row in table if row[2] == "0"} == {""}


def test_default_fields_and_fields_as_a_json_array(mango: MangoApiSandbox, client: httpx.Client) -> None:
    story = rendered("missed-ivr")
    mango.record_history(history_from_deliveries(story.deliveries))
    default = rows(
        fetch_csv(
            client, mango, request_key(client, mango, date_from=MIDNIGHT, date_to=MIDNIGHT + 86399)
        ).text
    )
    start = MIDNIGHT + 9 * 3600
    assert default == [
        ["", str(start), str(start + 12), "0", "", "79851230001", "", "", "1110", "74951234567", "ivr"]
    ]
    assert len(default[0]) == len(DEFAULT_CSV_FIELDS)
    as_list = rows(
        fetch_csv(
            client,
            mango,
            request_key(
                client,
                mango,
                date_from=str(MIDNIGHT),
                date_to=str(MIDNIGHT + 86399),
                fields=["location", "entry_id"],
            ),
        ).text
    )
    assert as_list == [["ivr", story.entry_ids["entry"]]]


def test_only_calls_started_within_the_period_and_matching_filters(
    mango: MangoApiSandbox, client: httpx.Client
) -> None:
    day = rendered("demo-day", base_time=MIDNIGHT)
    mango.record_history(history_from_deliveries(day.deliveries))
    morning = rows(
        fetch_csv(
            client,
            mango,
            request_key(
                client, mango, date_from=MIDNIGHT, date_to=MIDNIGHT + 10 * 3600, fields="entry_id,start"
            ),
        ).text
    )
    assert len({row[0] for row in morning}) == 3  # 09:02, 09:15, 09:41
    assert all(MIDNIGHT <= int(row[1]) <= MIDNIGHT + 10 * 3600 for row in morning)
    starts = [int(row[1]) for row in morning]
    assert starts == sorted(starts)
    to_102 = rows(
        fetch_csv(
            client,
            mango,
            request_key(
                client,
                mango,
                date_from=MIDNIGHT,
                date_to=MIDNIGHT + 86399,
                fields="to_extension",
                to={"extension": "102"},
            ),
        ).text
    )
    assert to_102 and {row[0] for row in to_102} == {"102"}


def clocked(**options: Any) -> tuple[ManualClock, MangoApiSandbox]:
    """A sandbox whose statistics keys age on a clock the test moves (no rate limit unless asked)."""
    clock = ManualClock()
    options = {"stats_rate_limit_seconds": 0, **options}
    return clock, MangoApiSandbox(api_key=KEY, api_salt=SALT, clock=clock, **options)


def result_status(client: httpx.Client, mango: MangoApiSandbox, key: str) -> int:
    return client.post(mango.url + "stats/result", data=signed({"key": key})).status_code


def test_result_is_204_then_200_then_404_after_the_key_lifetime(client: httpx.Client) -> None:
    clock, sandbox = clocked(stats_ready_after_polls=2, stats_key_ttl=60)
    with sandbox as mango:
        mango.record_history(history_from_deliveries(rendered("outgoing").deliveries))
        key = request_key(client, mango, date_from=MIDNIGHT, date_to=MIDNIGHT + 86399)
        assert [result_status(client, mango, key) for _ in range(4)] == [204, 204, 200, 200]
        clock.advance(59)
        assert result_status(client, mango, key) == 200
        clock.advance(2)
        assert result_status(client, mango, key) == 404


def test_ready_after_seconds(client: httpx.Client) -> None:
    clock, sandbox = clocked(stats_ready_after_polls=0, stats_ready_after_seconds=30)
    with sandbox as mango:
        key = request_key(client, mango, date_from=MIDNIGHT, date_to=MIDNIGHT + 60)
        assert result_status(client, mango, key) == 204
        clock.advance(31)
        ready = client.post(mango.url + "stats/result", data=signed({"key": key}))
        assert ready.status_code == 200 and ready.text == ""


def test_key_stays_valid_a_minute_by_default(mango: MangoApiSandbox, client: httpx.Client) -> None:
    key = request_key(client, mango, date_from=MIDNIGHT, date_to=MIDNIGHT + 60)
    assert fetch_csv(client, mango, key).status_code == 200
    assert mango.stats_key_ttl >= 60
    assert client.post(mango.url + "stats/result", data=signed({"key": key})).status_code == 200


def test_unknown_key_is_404(mango: MangoApiSandbox, client: httpx.Client) -> None:
    assert client.post(mango.url + "stats/result", data=signed({"key": "nope"})).status_code == 404
    calls_key = client.post(
        mango.url + "stats/calls/request/",
        data=signed(
            {"start_date": "24.11.2025", "end_date": "24.11.2025 23:59:59", "limit": 10, "offset": 0}
        ),
    ).json()["key"]
    assert client.post(mango.url + "stats/result", data=signed({"key": calls_key})).status_code == 404


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"date_from": MIDNIGHT, "date_to": MIDNIGHT + 31 * 86400 + 1}, 3111),
        ({"date_to": MIDNIGHT}, 3103),
        ({"date_from": MIDNIGHT}, 3103),
        ({"date_from": "yesterday", "date_to": MIDNIGHT}, 3104),
        ({"date_from": MIDNIGHT, "date_to": MIDNIGHT - 1}, 3104),
        ({"date_from": MIDNIGHT, "date_to": MIDNIGHT + 1, "fields": "start,nonsense"}, 3104),
    ],
)
def test_request_errors(mango: MangoApiSandbox, client: httpx.Client, payload: dict, code: int) -> None:
    response = client.post(mango.url + "stats/request", data=signed(payload))
    assert response.status_code == 420
    assert response.json()["code"] == code


def test_a_month_is_accepted(mango: MangoApiSandbox, client: httpx.Client) -> None:
    assert request_key(client, mango, date_from=MIDNIGHT, date_to=MIDNIGHT + 31 * 86400)


def test_stats_requests_are_rate_limited_per_product(client: httpx.Client) -> None:
    clock, sandbox = clocked(stats_rate_limit_seconds=2)
    with sandbox as mango:
        first = client.post(
            mango.url + "stats/request", data=signed({"date_from": MIDNIGHT, "date_to": MIDNIGHT + 1})
        )
        assert first.status_code == 200
        key = first.json()["key"]
        second = client.post(
            mango.url + "stats/request", data=signed({"date_from": MIDNIGHT, "date_to": MIDNIGHT + 1})
        )
        assert second.status_code == 429 and second.json() == RATE_LIMIT_BODY
        extended = client.post(
            mango.url + "stats/calls/request/",
            data=signed({"start_date": "24.11.2025", "end_date": "25.11.2025", "limit": 10, "offset": 0}),
        )
        assert extended.status_code == 429
        assert client.post(mango.url + "stats/result", data=signed({"key": key})).status_code == 204
        clock.advance(2.1)
        again = client.post(
            mango.url + "stats/request", data=signed({"date_from": MIDNIGHT, "date_to": MIDNIGHT + 1})
        )
        assert again.status_code == 200
        assert (
            client.post(mango.root_url + "_sandbox/config", json={"stats_rate_limit_seconds": 0}).status_code
            == 200
        )
        assert all(
            client.post(mango.url + "stats/request", data=signed({"date_from": MIDNIGHT, "date_to": 1 + MIDNIGHT}))
            .status_code == 200
            for _ in range(3)
        )  # fmt: skip


@pytest.mark.slow  # ~15 s: a 100,000-call day through the CSV stream
def test_a_generated_day_of_100000_calls_is_streamed(mango: MangoApiSandbox, client: httpx.Client) -> None:
    mango.history.add_generated_day(DAY, 100_000, seed=3)
    key = request_key(
        client, mango, date_from=MIDNIGHT, date_to=MIDNIGHT + 86399, fields="entry_id,start,answer"
    )
    assert client.post(mango.url + "stats/result", data=signed({"key": key})).status_code == 204
    entries: set[str] = set()
    row_count = chunks = 0
    tail = ""
    tracemalloc.start()
    try:
        with client.stream("POST", mango.url + "stats/result", data=signed({"key": key})) as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers
            for text in response.iter_text():
                chunks += 1
                lines = (tail + text).split("\n")
                tail = lines.pop()
                row_count += len(lines)
                entries.update(line.split(";", 1)[0] for line in lines)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tail == ""
    assert len(entries) == 100_000
    assert row_count > 100_000  # rows per leg: group calls ring several employees
    assert chunks > 10
    assert peak < 50 * 1024 * 1024


def test_generated_day_is_realistic_and_reproducible() -> None:
    calls = list(generate_day(DAY, 2000, seed=5))
    assert [c.entry_id for c in calls] == [c.entry_id for c in generate_day(DAY, 2000, seed=5)]
    assert len({c.entry_id for c in calls}) == 2000
    assert all(MIDNIGHT <= c.start < MIDNIGHT + 86400 and c.finish >= c.start for c in calls)
    assert [c.start for c in calls] == sorted(c.start for c in calls)
    directions = Counter(c.direction for c in calls)
    assert set(directions) == {0, 1, 2} and directions[1] > directions[2] > directions[0]
    answered = sum(c.answered for c in calls)
    assert 0.4 * len(calls) < answered < 0.85 * len(calls)
    business = sum(MIDNIGHT + 9 * 3600 <= c.start < MIDNIGHT + 18 * 3600 for c in calls)
    assert business > 0.7 * len(calls)
    assert {c.location for c in calls} >= {"abonent", "ivr"}


# -- the history ----------------------------------------------------------------------------------


def test_history_has_every_entry_of_the_demo_day_including_dropped_ones() -> None:
    day = rendered("demo-day", base_time=MIDNIGHT)
    kept, dropped = drop_calls(day, 0.3, seed=4)
    assert len(dropped) == 4
    history = CallHistory()
    history.record(history_from_deliveries(day.deliveries))
    assert set(history.entry_ids()) == set(day.entry_ids.values())
    assert set(dropped) <= set(history.entry_ids())
    from_kept = {call.entry_id for call in history_from_deliveries(kept)}
    assert from_kept == set(day.entry_ids.values()) - set(dropped)


def test_history_matches_the_scenarios_expectations() -> None:
    day = rendered("demo-day", base_time=MIDNIGHT)
    for call in history_from_deliveries(day.deliveries):
        expect = day.expect[call.entry_id]
        assert call.answered == expect["answered"]
        assert call.start == MIDNIGHT + expect["started"]
        assert call.direction == {"internal": 0, "incoming": 1, "outgoing": 2}[expect["direction"]]
        assert len(call.recordings) == expect.get("recordings", 0)
        employee_legs = [leg for leg in call.legs if leg.answer]
        assert len(employee_legs) == len(expect["answered_legs"])
        assert len(call.rows) >= 1


def test_history_round_trips_through_the_control_endpoint(
    mango: MangoApiSandbox, client: httpx.Client
) -> None:
    calls = history_from_deliveries(rendered("consultative-transfer").deliveries)
    response = client.post(mango.root_url + "_sandbox/history", json={"calls": [c.as_dict() for c in calls]})
    assert response.json() == {"entry_ids": [calls[0].entry_id]}
    assert mango.history.get(calls[0].entry_id) == calls[0]
    assert StatsCall.from_dict(json.loads(json.dumps(calls[0].as_dict()))) == calls[0]
    client.post(mango.root_url + "_sandbox/history", json={"generate": {"day": "2025-11-25", "count": 10}})
    assert len(list(mango.history.calls())) == 11
    assert client.delete(mango.root_url + "_sandbox/history").json() == {"entry_ids": []}
    mango.record_history(calls)
    mango.reset()
    assert len(mango.history) == 0


# -- the extended statistics ----------------------------------------------------------------------


def calls_request(client: httpx.Client, mango: MangoApiSandbox, **payload: object) -> httpx.Response:
    return client.post(mango.url + "stats/calls/request/", data=signed(payload))


def test_extended_statistics_work_then_complete_in_daily_chunks(
    mango: MangoApiSandbox, client: httpx.Client
) -> None:
    first = rendered("demo-day", base_time=MIDNIGHT)
    second = rendered("demo-day", base_time=MIDNIGHT + 86400, seed=2)
    for day in (first, second):
        mango.record_history(history_from_deliveries(day.deliveries))
    key = calls_request(
        client, mango, start_date="24.11.2025 00:00:00", end_date="25.11.2025 23:59:59", limit=100, offset=0
    ).json()["key"]
    polls = [
        client.post(mango.url + "stats/calls/result/", data=signed({"key": key})).json() for _ in range(2)
    ]
    assert [poll["status"] for poll in polls] == ["work", "complete"]
    assert len(polls[0]["data"][0]["list"]) < 15
    chunks = polls[1]["data"]
    assert [chunk["period"] for chunk in chunks] == ["2025-11-24", "2025-11-25"]
    assert [chunk["total_calls_count"] for chunk in chunks] == [15, 15]
    items = [item for chunk in chunks for item in chunk["list"]]
    assert {item["entry_id"] for item in items} == set(first.entry_ids.values()) | set(
        second.entry_ids.values()
    )
    queue = next(item for item in items if item["entry_id"] == first.entry_ids["04-queue-parallel/entry"])
    assert queue["context_type"] == 1 and queue["context_status"] == 1
    assert queue["caller_number"] == "79037778899"
    assert queue["talk_duration"] == 128 and queue["duration"] == 140
    assert len(queue["context_calls"]) == 3
    assert [leg["recording_id"] for leg in queue["context_calls"]] == [
        [],
        [first.ids["04-queue-parallel/rec"]],
        [],
    ]
    types = Counter(item["context_type"] for item in items)
    assert types == {1: 22, 2: 6, 3: 2}


def test_extended_statistics_page_and_filter(mango: MangoApiSandbox, client: httpx.Client) -> None:
    day = rendered("demo-day", base_time=MIDNIGHT)
    mango.record_history(history_from_deliveries(day.deliveries))
    mango.stats_ready_after_polls = 0

    def fetch(**payload: object) -> list[dict]:
        key = calls_request(
            client, mango, start_date="24.11.2025", end_date="24.11.2025 23:59:59", **payload
        ).json()["key"]
        body = client.post(mango.url + "stats/calls/result/", data=signed({"key": key})).json()
        assert body["status"] == "complete"
        return [item for chunk in body["data"] for item in chunk["list"]]

    everything = fetch(limit=100, offset=0)
    assert [item["entry_id"] for item in fetch(limit=5, offset=10)] == [
        i["entry_id"] for i in everything[10:15]
    ]
    missed_incoming = fetch(limit=100, offset=0, context_type=1, context_status=0)
    assert missed_incoming and all(
        i["context_type"] == 1 and i["context_status"] == 0 for i in missed_incoming
    )


def test_extended_statistics_checks(mango: MangoApiSandbox, client: httpx.Client) -> None:
    base = {"start_date": "01.11.2025 00:00:00", "limit": 10, "offset": 0}
    assert calls_request(client, mango, **base, end_date="01.12.2025 00:00:00").json()["code"] == 3111
    assert calls_request(client, mango, **base, end_date="30.11.2025 23:59:59").status_code == 200
    assert (
        calls_request(client, mango, **{**base, "start_date": "2025-11-01"}, end_date="02.11.2025").json()[
            "code"
        ]
        == 3104
    )
    assert calls_request(client, mango, **{**base, "limit": 7}, end_date="02.11.2025").json()["code"] == 3104
    no_offset = {"start_date": "01.11.2025", "end_date": "02.11.2025", "limit": 10}
    assert calls_request(client, mango, **no_offset).json()["code"] == 3103
    gone = client.post(mango.url + "stats/calls/result/", data=signed({"key": "nope"})).json()
    assert gone["status"] == "not-found"


# -- dropped calls in the player ------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_drop_calls_removes_whole_entries_only(fraction: float) -> None:
    day = rendered("demo-day", base_time=MIDNIGHT)
    kept, dropped = drop_calls(day, fraction, seed=9)
    assert len(dropped) == round(15 * fraction) == len(set(dropped))
    names = {entry_id: name for name, entry_id in day.entry_ids.items()}
    per_entry_all = Counter(d.entry for d in day.deliveries)
    per_entry_kept = Counter(d.entry for d in kept)
    for entry_id, name in names.items():
        expected = 0 if entry_id in dropped else per_entry_all[name]
        assert per_entry_kept[name] == expected
    assert kept == [d for d in day.deliveries if d in kept]  # order preserved
    assert drop_calls(day, fraction, seed=9) == (kept, dropped)
    with pytest.raises(ValueError):
        drop_calls(day, 1.5, seed=9)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, str]]]]:
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            received.append(dict(parse_qsl(body, keep_blank_values=True)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/mango/demo/", received
    server.shutdown()
    server.server_close()


def test_cli_drops_calls_and_tells_the_mango_sandbox_about_all_of_them(
    receiver: tuple[str, list[dict[str, str]]],
    mango: MangoApiSandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, received = receiver
    stack = tmp_path / "stack.json"
    stack.write_text(
        json.dumps({"ingest_url": url, "mango": {"api_key": KEY, "api_salt": SALT, "api_url": mango.url}})
    )
    args = ["play", "demo-day", "--stack", str(stack), "--seed", "5", "--base-time", "2025-11-24", "--quiet"]
    assert sandbox_main([*args, "--drop-calls", "0.2"]) == 0
    day = render(load_scenario("demo-day"), base_time=MIDNIGHT, seed=5)
    dropped = set(drop_calls(day, 0.2, seed=5)[1])
    assert len(dropped) == 3
    assert "dropped 3 call(s)" in capsys.readouterr().out
    delivered = {json.loads(form["json"]).get("entry_id") for form in received} - {None}
    assert delivered == set(day.entry_ids.values()) - dropped
    assert set(mango.history.entry_ids()) == set(day.entry_ids.values())
    assert sandbox_main([*args, "--drop-calls", "2"]) == 2
