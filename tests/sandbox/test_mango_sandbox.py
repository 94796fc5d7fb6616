"""The scenario player (signed form posts, duplicates, reordering, CLI) and the Mango API sandbox."""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
import types
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote

import httpx
import pytest

from mango_bridge.mango.signature import sign, sign_recording_link, verify
from sandbox.__main__ import main as sandbox_main
from sandbox.mango.api import Fault, MangoApiSandbox, fake_mp3
from sandbox.mango.player import (
    Delivery,
    Rendered,
    load_scenario,
    parse_base_time,
    post,
    ready_recording_ids,
    render,
    reorder,
    tenant_url_from_stack,
)

KEY = "9ipl5monmwkkyg3adfx2s6frz7b"
SALT = "cv3z37sqp6kvsjs4i7vd3lf6r5rwztg2"
BASE_TIME = 1_764_000_000


@dataclass
class Received:
    path: str
    content_type: str
    form: dict[str, str]


@dataclass
class Receiver:
    """A stand-in for the bridge's webhook endpoint: records each POST and answers a chosen status."""

    url: str
    received: list[Received] = field(default_factory=list)
    status_for: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            state.received.append(
                Received(
                    self.path,
                    self.headers.get("Content-Type", ""),
                    dict(parse_qsl(body, keep_blank_values=True)),
                )
            )
            suffix = self.path.removeprefix("/mango/demo/")
            self.send_response(state.status_for.get(suffix, 200))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/mango/demo/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def mango() -> Iterator[MangoApiSandbox]:
    with MangoApiSandbox(api_key=KEY, api_salt=SALT) as sandbox:
        yield sandbox


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as http:
        yield http


@functools.cache
def rendered(name: str, seed: int = 1) -> Rendered:
    return render(load_scenario(name), base_time=BASE_TIME, seed=seed)


def signed(payload: dict, key: str = KEY, salt: str = SALT) -> dict[str, str]:
    text = json.dumps(payload, separators=(",", ":"))
    return {"vpbx_api_key": key, "sign": sign(key, text, salt), "json": text}


# -- player ---------------------------------------------------------------------------------------


def test_post_sends_signed_urlencoded_forms_in_order(receiver: Receiver) -> None:
    deliveries = rendered("consultative-transfer").deliveries
    statuses = post(deliveries, to_url=receiver.url, api_key=KEY, api_salt=SALT)
    assert statuses == [200] * len(deliveries)
    assert len(receiver.received) == len(deliveries)
    for got, delivery in zip(receiver.received, deliveries, strict=True):
        assert got.path == "/mango/demo/" + delivery.suffix
        assert got.content_type == "application/x-www-form-urlencoded"
        assert got.form["vpbx_api_key"] == KEY
        assert got.form["json"] == delivery.json_text, "ids with + / = must survive form encoding"
        assert verify(KEY, got.form["json"], SALT, got.form["sign"])


def test_post_without_trailing_slash_and_concurrently(receiver: Receiver) -> None:
    deliveries = rendered("demo-day").deliveries[:40]
    statuses = post(deliveries, to_url=receiver.url.rstrip("/"), api_key=KEY, api_salt=SALT, concurrency=6)
    assert statuses == [200] * 40
    assert Counter(r.form["json"] for r in receiver.received) == Counter(d.json_text for d in deliveries)


def test_post_reports_each_status(receiver: Receiver) -> None:
    receiver.status_for["events/summary"] = 500
    seen: list[tuple[int, str, int]] = []
    statuses = post(
        rendered("missed-ivr").deliveries,
        to_url=receiver.url,
        api_key=KEY,
        api_salt=SALT,
        on_response=lambda position, delivery, status, _: seen.append((position, delivery.suffix, status)),
    )
    assert statuses == [200, 200, 500]
    assert seen == [(1, "events/call", 200), (2, "events/call", 200), (3, "events/summary", 500)]


def plain(items: list[Delivery]) -> Counter[Delivery]:
    return Counter(replace(item, copy=False) for item in items)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    "options",
    [
        {"duplicate": 0.3},
        {"shuffle": True},
        {"shuffle": True, "duplicate": 0.5},
        {"window": 3, "duplicate": 0.2},
        {"duplicate": 1.0, "shuffle": True, "window": 5},
    ],
    ids=str,
)
def test_reorder_is_a_permutation_plus_later_copies(seed: int, options: dict) -> None:
    deliveries = rendered("consultative-transfer").deliveries
    out = reorder(deliveries, seed=seed, **options)
    originals = [item for item in out if not item.copy]
    copies = [item for item in out if item.copy]
    assert Counter(originals) == Counter(deliveries)
    assert not plain(copies) - plain(deliveries), "a copy is always a copy of something sent"
    assert plain(out) - plain(deliveries) == plain(copies)
    for copy in copies:
        assert out.index(copy) > out.index(replace(copy, copy=False)), "a duplicate comes after its original"
    if options.get("duplicate") == 1.0:
        assert len(copies) == len(deliveries)
    assert reorder(deliveries, seed=seed, **options) == out


def test_reorder_without_options_changes_nothing() -> None:
    deliveries = rendered("callback").deliveries
    assert reorder(deliveries, seed=4) == deliveries


@pytest.mark.parametrize("window", [1, 2, 4])
def test_window_limits_how_far_a_delivery_moves(window: int) -> None:
    deliveries = rendered("demo-day").deliveries
    out = reorder(deliveries, seed=9, window=window)
    moves = [abs(out.index(delivery) - position) for position, delivery in enumerate(deliveries)]
    assert max(moves) < window
    if window > 1:
        assert out != deliveries


def test_reorder_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        reorder([], seed=1, duplicate=1.5)
    with pytest.raises(ValueError):
        reorder([], seed=1, window=-1)


def test_ready_recordings_are_those_announced_by_record_added() -> None:
    assert ready_recording_ids(rendered("short-call").deliveries) == []
    story = rendered("consultative-transfer")
    assert ready_recording_ids(story.deliveries) == [story.ids["rec_first"], story.ids["rec_second"]]


def test_base_time_accepts_epoch_and_iso_with_moscow_as_default_zone() -> None:
    assert parse_base_time("1764000000") == 1_764_000_000
    assert parse_base_time("2025-11-24T09:00:00") == parse_base_time("2025-11-24T06:00:00Z")
    assert parse_base_time("2025-11-24") == parse_base_time("2025-11-23T21:00:00+00:00")
    assert abs(parse_base_time(None) - time.time()) < 5


def test_tenant_url_from_stack_file() -> None:
    assert tenant_url_from_stack({"ingest_url": "http://h:3000/mango/demo/", "tenant_id": "demo"}) == (
        "http://h:3000/mango/demo/"
    )
    assert (
        tenant_url_from_stack({"ingest_url": "http://h:3000", "tenant_id": "demo"})
        == "http://h:3000/mango/demo/"
    )
    assert tenant_url_from_stack({}) is None


# -- command line ---------------------------------------------------------------------------------


def test_cli_play_sends_and_exits_zero(receiver: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    code = sandbox_main(
        [
            *("play", "missed-ivr", "internal", "--to", receiver.url, "--key", KEY, "--salt", SALT),
            *("--seed", "5", "--base-time", "2025-11-24T09:00:00", "--stack", "/nonexistent/stack.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert len(receiver.received) == 7
    assert "7 deliveries (0 duplicates) of 2 file(s)" in out
    assert out.count(" 200 ") == 7
    first = json.loads(receiver.received[0].form["json"])
    assert first["timestamp"] == "1763964000"  # 09:00 MSK, sent as a string by missed-ivr


def test_cli_fails_loudly_on_a_non_200(receiver: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    receiver.status_for["events/summary"] = 503
    code = sandbox_main(["play", "outgoing", "--to", receiver.url, "--key", KEY, "--salt", SALT, "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED 503 events/summary" in captured.err
    assert "1×503" in captured.out


def test_cli_takes_defaults_from_the_stack_file_and_registers_recordings(
    receiver: Receiver, mango: MangoApiSandbox, tmp_path: Path
) -> None:
    stack = tmp_path / "stack.json"
    stack.write_text(
        json.dumps(
            {
                "ingest_url": receiver.url,
                "tenant_id": "demo",
                "mango": {"api_key": KEY, "api_salt": SALT, "api_url": mango.url},
            }
        )
    )
    code = sandbox_main(
        ["play", "incoming-answered", "--stack", str(stack), "--seed", "2", "--duplicate", "0.5"]
    )
    assert code == 0
    assert all(verify(KEY, r.form["json"], SALT, r.form["sign"]) for r in receiver.received)
    added = next(r for r in receiver.received if r.path.endswith("events/record/added"))
    assert mango.has_recording(json.loads(added.form["json"])["recording_id"])


def test_cli_requires_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert sandbox_main(["play", "internal", "--stack", "/nonexistent/stack.json"]) == 2
    assert "--to" in capsys.readouterr().err


def test_cli_dry_run_prints_deliveries(capsys: pytest.CaptureFixture[str]) -> None:
    assert sandbox_main(["play", "dtmf-route", "--dry-run", "--seed", "1", "--show-expect"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("events/call {")
    assert sum(line.startswith("events/dtmf ") for line in lines) == 2
    assert any("incoming" in line and "120" in line for line in lines)


def test_cli_reports_a_broken_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nsteps: nope\n")
    assert sandbox_main(["play", str(broken), "--dry-run"]) == 2
    assert "broken.yaml" in capsys.readouterr().err


def test_cli_lists_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert sandbox_main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert "demo-day" in out and "playlist of 15 calls" in out


@pytest.mark.parametrize("command", ["serve", "run"])
def test_stack_commands_are_handed_to_the_local_stack(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    fake = types.ModuleType("sandbox.stack.cli")
    fake.main = lambda argv: calls.append(list(argv)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sandbox.stack.cli", fake)
    assert sandbox_main([command, "--port", "3000"]) == 0
    assert calls == [[command, "--port", "3000"]]


# -- Mango API sandbox ----------------------------------------------------------------------------


def recording_post(client: httpx.Client, mango: MangoApiSandbox, recording_id: str, action: str = "download"):
    return client.post(
        mango.url + "queries/recording/post", data=signed({"recording_id": recording_id, "action": action})
    )


def test_recording_post_redirects_to_a_one_shot_link(mango: MangoApiSandbox, client: httpx.Client) -> None:
    recording_id = "MToxMDAwNjA4NTo1MDA5NDExMDIyOjE+/w=="
    mango.add_recording(recording_id)
    response = recording_post(client, mango, recording_id)
    assert response.status_code == 302
    link = response.headers["location"]
    assert link.startswith(f"http://127.0.0.1:{mango.port}/files/")
    audio = client.get(link)
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/mpeg"
    assert audio.content == fake_mp3(recording_id)
    assert audio.content.startswith(b"ID3") and recording_id.encode() in audio.content[:100]
    assert client.get(link).status_code == 404, "links die after the first access"
    assert mango.downloads[0]["recording_id"] == recording_id


def test_following_the_redirect_yields_the_file(mango: MangoApiSandbox) -> None:
    mango.add_recording("rec-1", audio=b"ID3 custom bytes")
    with httpx.Client(trust_env=False, follow_redirects=True) as http:
        response = recording_post(http, mango, "rec-1", action="play")
    assert response.content == b"ID3 custom bytes"
    assert response.headers["content-disposition"].startswith("inline")


@pytest.mark.parametrize(
    ("form", "code"),
    [
        (signed({"recording_id": "nope", "action": "download"}), 3320),
        (signed({"recording_id": "x", "action": "stream"}), 3104),
        (signed({"recording_id": "x"}), 3103),
        ({**signed({"recording_id": "x", "action": "play"}), "sign": "0" * 64}, 3102),
        (signed({"recording_id": "x", "action": "play"}, key="other"), 3105),
        ({"vpbx_api_key": KEY, "sign": sign(KEY, "", SALT)}, 3103),
        ({"vpbx_api_key": KEY, "sign": sign(KEY, "{oops", SALT), "json": "{oops"}, 3400),
    ],
    ids=["unknown recording", "bad action", "missing action", "bad sign", "wrong key", "no json", "bad json"],
)
def test_api_errors_follow_mango(mango: MangoApiSandbox, client: httpx.Client, form: dict, code: int) -> None:
    mango.add_recording("x")
    response = client.post(mango.url + "queries/recording/post", data=form)
    assert response.status_code == 420
    assert response.json()["code"] == code
    assert mango.requests[-1].result == code


def test_only_post_is_allowed(mango: MangoApiSandbox, client: httpx.Client) -> None:
    assert client.get(mango.url + "queries/recording/post").json()["code"] == 3101


def test_error_status_can_be_switched_to_200(mango: MangoApiSandbox, client: httpx.Client) -> None:
    client.post(mango.root_url + "_sandbox/config", json={"error_http_status": 200})
    response = recording_post(client, mango, "missing")
    assert (response.status_code, response.json()["result"]) == (200, 3320)


def test_multipart_forms_are_accepted(mango: MangoApiSandbox, client: httpx.Client) -> None:
    mango.add_recording("x")
    form = signed({"recording_id": "x", "action": "download"})
    response = client.post(
        mango.url + "queries/recording/post", files={k: (None, v) for k, v in form.items()}
    )
    assert response.status_code == 302


def test_presigned_get_link_with_slashes_in_the_id(mango: MangoApiSandbox, client: httpx.Client) -> None:
    recording_id = "MTo+/x/y=="
    mango.add_recording(recording_id)

    def link(expires: int, signature: str | None = None) -> str:
        signature = signature or sign_recording_link(KEY, expires, recording_id, SALT)
        parts = [recording_id, "download", KEY, str(expires), signature]
        return mango.url + "queries/recording/link/" + "/".join(quote(part, safe="") for part in parts)

    fresh = client.get(link(int(time.time()) + 600))
    assert fresh.status_code == 302
    assert client.get(fresh.headers["location"]).content == fake_mp3(recording_id)
    assert client.get(link(int(time.time()) - 1)).json()["code"] == 3104
    assert client.get(link(int(time.time()) + 600, signature="f" * 64)).json()["code"] == 3102


def test_faults_hit_a_given_number_of_requests(mango: MangoApiSandbox, client: httpx.Client) -> None:
    mango.add_recording("x")
    added = client.post(mango.root_url + "_sandbox/faults", json={"status": 503, "count": 2})
    assert added.json()["faults"][0]["count"] == 2
    statuses = [recording_post(client, mango, "x").status_code for _ in range(3)]
    assert statuses == [503, 503, 302]
    assert client.get(mango.root_url + "_sandbox/faults").json() == {"faults": []}


def test_result_rate_limit_and_latency_faults(mango: MangoApiSandbox, client: httpx.Client) -> None:
    mango.add_recording("x")
    mango.add_fault({"result": 5008})
    mango.add_fault(Fault(status=429))
    mango.add_fault({"latency_ms": 300, "path": "queries/recording/post"})
    first = recording_post(client, mango, "x")
    assert (first.status_code, first.json()["code"]) == (420, 5008)
    second = recording_post(client, mango, "x")
    assert second.status_code == 429 and second.json()["message"] == "Rate limit exceeded."
    started = time.perf_counter()
    assert recording_post(client, mango, "x").status_code == 302
    assert time.perf_counter() - started >= 0.3


def test_faults_can_target_one_path(mango: MangoApiSandbox, client: httpx.Client) -> None:
    mango.add_recording("x")
    mango.add_fault({"path": "files", "status": 500, "count": None})
    response = recording_post(client, mango, "x")
    assert response.status_code == 302
    assert client.get(response.headers["location"]).status_code == 500
    assert client.post(mango.root_url + "_sandbox/faults", json={"bogus": 1}).status_code == 400
    client.delete(mango.root_url + "_sandbox/faults")
    assert mango.state()["faults"] == []


def test_commands_are_recorded_and_acknowledged(mango: MangoApiSandbox, client: httpx.Client) -> None:
    command = {"command_id": "route-1", "call_id": "MTo+/x==", "to_number": "101"}
    response = client.post(mango.url + "commands/route", data=signed(command))
    assert response.json() == {"result": 1000}
    assert mango.commands[0]["path"] == "commands/route"
    assert mango.commands[0]["data"] == command
    unsigned = client.post(mango.url + "commands/route", data={**signed(command), "sign": "bad"})
    assert unsigned.json()["code"] == 3102
    assert len(mango.commands) == 1


def test_unknown_methods_say_so(mango: MangoApiSandbox, client: httpx.Client) -> None:
    response = client.post(mango.url + "account/balance", data=signed({"date_from": "1", "date_to": "2"}))
    assert response.status_code == 404
    assert response.json()["code"] == 4001


def test_methods_can_be_added(mango: MangoApiSandbox, client: httpx.Client) -> None:
    mango.register_method("account/balance", lambda call: call.ok(balance=100.5, currency="RUB"))
    response = client.post(mango.url + "account/balance", data=signed({}))
    assert response.json() == {"result": 1000, "balance": 100.5, "currency": "RUB"}


def test_control_endpoints(mango: MangoApiSandbox, client: httpx.Client) -> None:
    registered = client.post(mango.root_url + "_sandbox/recordings", json={"recording_ids": ["a", "b"]})
    assert registered.json() == {"recordings": ["a", "b"]}
    client.post(mango.root_url + "_sandbox/recordings", json={"recording_id": "c"})
    recording_post(client, mango, "a")
    state = client.get(mango.root_url + "_sandbox/state").json()
    assert state["recordings"] == ["a", "b", "c"]
    assert state["pending_links"] == 1
    assert state["requests"][0]["path"] == "queries/recording/post"
    assert state["requests"][0]["data"] == {"recording_id": "a", "action": "download"}
    assert state["requests"][0]["status"] == 302
    assert client.post(mango.root_url + "_sandbox/reset").json() == {"ok": True}
    assert mango.state()["recordings"] == [] and mango.requests == []
    assert client.get(mango.root_url + "_sandbox/nothing").status_code == 404


def test_recordings_from_played_deliveries(mango: MangoApiSandbox) -> None:
    story = rendered("blind-transfer-return")
    assert mango.register_deliveries(story.deliveries) == [story.ids["rec_before"], story.ids["rec_after"]]
    assert mango.register_deliveries(rendered("short-call").deliveries) == []


def test_sandbox_urls_and_restart() -> None:
    sandbox = MangoApiSandbox(api_key=KEY, api_salt=SALT)
    sandbox.start()
    try:
        assert sandbox.url == f"http://127.0.0.1:{sandbox.port}/vpbx/"
        assert sandbox.port > 0
    finally:
        sandbox.stop()
    sandbox.stop()


# -- the sandbox against the spec -------------------------------------------------------------------


def test_errors_answer_420_with_the_code_as_the_spec_prints_it(
    mango: MangoApiSandbox, client: httpx.Client
) -> None:
    """D110 p.5: «сервер возвращает HTTP-код 420 Method Failure и ответ в формате JSON, содержащий код
    ошибки и опционально описание: { "code": 3104 }»."""
    response = client.post(
        mango.url + "queries/recording/post", data=signed({"recording_id": "x", "action": "?"})
    )
    assert response.status_code == 420
    assert response.json()["code"] == 3104 and "result" not in response.json()


def test_the_bridges_client_reads_both_error_shapes(mango: MangoApiSandbox, client: httpx.Client) -> None:
    """The spec's HTTP 420 + `{"code"}` and the observed HTTP 200 + `{"result"}` give the same error."""
    from mango_bridge.mango.client import MangoClient
    from mango_bridge.mango.errors import MangoRejected

    bridge = MangoClient(mango.url, KEY, SALT)
    for status in (420, 200):
        client.post(mango.root_url + "_sandbox/config", json={"error_http_status": status})
        with pytest.raises(MangoRejected) as refused:
            bridge.call("queries/recording/post", {"recording_id": "x", "action": "stream"})
        assert refused.value.code == 3104, status


def test_signatures_are_checked_with_the_spec_formula_not_the_bridges(
    mango: MangoApiSandbox, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D110 p.5: «sign = sha256(vpbx_api_key + json + vpbx_api_salt)». A bridge whose signing is broken
    (here: salt and json swapped) must be refused even though it would verify its own signatures."""
    import hashlib

    import mango_bridge.mango.client as client_module
    import mango_bridge.mango.signature as signature_module
    from mango_bridge.mango.client import MangoClient
    from mango_bridge.mango.errors import MangoRejected

    def broken(api_key: str, json_text: str, api_salt: str) -> str:
        return hashlib.sha256(f"{api_key}{api_salt}{json_text}".encode()).hexdigest()

    monkeypatch.setattr(signature_module, "sign", broken)
    monkeypatch.setattr(client_module, "sign", broken)
    assert signature_module.verify(KEY, "{}", SALT, broken(KEY, "{}", SALT))  # the bug agrees with itself
    with pytest.raises(MangoRejected) as refused:
        MangoClient(mango.url, KEY, SALT).call("commands/route", {"call_id": "c", "to_number": "101"})
    assert refused.value.code == 3102
    spec = hashlib.sha256(f'{KEY}{{"a":1}}{SALT}'.encode()).hexdigest()
    response = client.post(
        mango.url + "commands/call/hangup", data={"vpbx_api_key": KEY, "sign": spec, "json": '{"a":1}'}
    )
    assert response.json() == {"result": 1000}
    upper = client.post(
        mango.url + "commands/call/hangup",
        data={"vpbx_api_key": KEY, "sign": spec.upper(), "json": '{"a":1}'},
    )
    assert upper.json()["code"] == 3102  # the digest is lower-case hex


def route(client: httpx.Client, mango: MangoApiSandbox, call_id: str, command_id: str) -> httpx.Response:
    return client.post(
        mango.url + "commands/route",
        data=signed({"command_id": command_id, "call_id": call_id, "to_number": "101"}),
    )


def test_a_route_for_a_leg_that_left_the_ivr_is_taken_and_its_4101_comes_in_result_route(
    mango: MangoApiSandbox, client: httpx.Client, receiver: Receiver
) -> None:
    """D110 p.28–29: the outcome of `commands/route` is posted to `/result/route`, whose results include
    «4101 Вызов завершен либо не существует»."""
    desk = mango.route_desk  # type: ignore[attr-defined]
    desk.rate_limit_seconds = 0
    desk.announce({"entry_id": "e", "call_id": "gone", "to_url": receiver.url, "caller": "79", "line": "74"})
    desk.close("gone")
    assert route(client, mango, "gone", "c-gone").json() == {"result": 1000}
    (posted,) = desk.wait_results()
    assert posted["status"] == 200
    (result,) = [r for r in receiver.received if r.path.endswith("result/route")]
    assert json.loads(result.form["json"]) == {"command_id": "c-gone", "result": 4101}


def test_a_route_for_a_leg_nobody_announced_gets_a_4101_result_too(
    mango: MangoApiSandbox, client: httpx.Client, receiver: Receiver
) -> None:
    """D110 p.29: «4101 Вызов завершен либо не существует» — a call the PBX does not have."""
    desk = mango.route_desk  # type: ignore[attr-defined]
    desk.rate_limit_seconds = 0
    client.post(mango.root_url + "_sandbox/routing", json={"to_url": receiver.url})
    assert route(client, mango, "nobody", "c-nobody").json() == {"result": 1000}
    desk.wait_results()
    (result,) = [r for r in receiver.received if r.path.endswith("result/route")]
    assert json.loads(result.form["json"]) == {"command_id": "c-nobody", "result": 4101}
    assert result.form["sign"] == sign(KEY, result.form["json"], SALT)
