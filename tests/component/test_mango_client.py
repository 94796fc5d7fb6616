"""The Mango API client against the Mango sandbox: what Mango is asked, and how its answers are read."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mango_bridge.mango.client import MangoClient
from mango_bridge.mango.errors import MangoFailed, MangoRejected, MangoUnavailable, meaning
from sandbox.mango.api import MangoApiSandbox

KEY, SALT = "clienttestkey0000", "clienttestsalt0000"


@pytest.fixture
def mango() -> Iterator[MangoApiSandbox]:
    with MangoApiSandbox(api_key=KEY, api_salt=SALT) as sandbox:
        yield sandbox


def client(mango: MangoApiSandbox, salt: str = SALT) -> MangoClient:
    return MangoClient(mango.url, KEY, salt)


def test_recording_link_is_fresh_and_one_shot(mango: MangoApiSandbox) -> None:
    mango.add_recording("rec+/=1")
    api = client(mango)
    link = api.recording_link("rec+/=1")
    with httpx.Client(trust_env=False) as http:
        assert http.get(link).status_code == 200
        assert http.get(link).status_code == 404
        assert http.get(api.recording_link("rec+/=1")).status_code == 200


def test_signs_exactly_the_bytes_it_sends(mango: MangoApiSandbox) -> None:
    api = client(mango)
    api.route("call==", "101", display_name="VIP Иванов")
    (request,) = [r for r in mango.requests if "commands/route" in r.path]
    assert request.result == 1000  # the sandbox verified sign over the raw json field, as Mango does
    assert request.json_text is not None
    assert '"to_number":"101"' in request.json_text and "Иванов" in request.json_text


def test_bad_signature_is_rejected_not_retried(mango: MangoApiSandbox) -> None:
    with pytest.raises(MangoRejected) as problem:
        client(mango, salt="wrong-salt-0000").route("c1", "101")
    assert problem.value.code == 3102


def test_unknown_recording_is_rejected_with_its_code(mango: MangoApiSandbox) -> None:
    with pytest.raises(MangoRejected) as problem:
        client(mango).recording_link("missing")
    assert problem.value.code == 3320


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 429}, {"result": 5008}])
def test_overload_and_rate_limits_are_unavailable(mango: MangoApiSandbox, fault: dict[str, int]) -> None:
    mango.add_fault(fault)
    with pytest.raises(MangoUnavailable):
        client(mango).route("c1", "101")
    client(mango).route("c1", "101")  # the fault was one request long


def test_billing_refusal_is_failed_not_unavailable(mango: MangoApiSandbox) -> None:
    mango.add_fault({"result": 2240})
    with pytest.raises(MangoFailed):
        client(mango).route("c1", "101")


def test_network_failure_is_unavailable() -> None:
    with pytest.raises(MangoUnavailable):
        MangoClient("http://127.0.0.1:9/vpbx/", KEY, SALT, timeout=0.5).route("c1", "101")


def test_unknown_codes_read_by_class() -> None:
    assert meaning(2219) == meaning(2210)
    assert meaning(3137) == "bad command parameters"
    assert meaning(1090) == "success"
