"""«Real accounts, not our reading of them» (findings 13–15): the amoCRM sandbox takes what the real
API takes and limits as the docs say, and the adapter copes with what the account holds
(docs/crm/amocrm.md lists each source and what is still unconfirmed)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from mango_bridge.crm.amocrm import AmoCrmAdapter, AmoCrmClient, MemoryTokenStore
from mango_bridge.crm.amocrm.limiter import RateLimiter
from mango_bridge.crm.errors import CrmRateLimited
from sandbox.crm.amocrm import AmoCrmSandbox
from sandbox.faults import ManualClock
from tests.component.test_amocrm_adapter import (
    ENTRY,
    NEW_NUMBER,
    adapter,
    amo,
    client,
    log_call,
    oauth_tokens,
    run,
    store,
    unsorted_lead,
)

__all__ = ["adapter", "amo", "client", "store"]  # fixtures


def bearer(amo: AmoCrmSandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {amo.issue_tokens().access_token}"}


def contact_with(phone: str) -> dict[str, Any]:
    return {"name": "Клиент", "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": phone}]}]}


# --- 13: `request_id` is optional in POST /api/v4/calls --------------------------------------------------


def test_a_call_without_request_id_is_stored_as_the_real_api_takes_it(amo: AmoCrmSandbox) -> None:
    with httpx.Client(base_url=amo.url, headers=bearer(amo), trust_env=False) as api:
        api.post("/api/v4/contacts", json=[contact_with("+79167770001")]).raise_for_status()
        answer = api.post(
            "/api/v4/calls",
            json=[
                {
                    "direction": "inbound",
                    "duration": 42,
                    "source": "Mango Office",
                    "phone": "+79167770001",
                    "call_status": 4,
                }
            ],
        )
    assert answer.status_code == 200, answer.text
    (stored,) = answer.json()["_embedded"]["calls"]
    assert (stored["entity_type"], stored["request_id"]) == ("contacts", "0")
    (note,) = amo.state()["notes"]
    assert note["note_type"] == "call_in"


# --- 14: the limit as documented, and `Retry-After` honoured when an account sends one --------------------


def test_the_sandbox_admits_seven_requests_in_each_whole_second_and_answers_a_bare_429() -> None:
    clock = ManualClock(1_764_000_000.9)
    with AmoCrmSandbox(clock=clock) as amo, httpx.Client(base_url=amo.url, headers=bearer(amo)) as api:
        assert [api.get("/api/v4/account").status_code for _ in range(7)] == [200] * 7
        refused = api.get("/api/v4/account")
        assert (refused.status_code, refused.content, "Retry-After" in refused.headers) == (429, b"", False)
        clock.advance(0.2)  # the next second: 14 requests within 0.2 s of each other, 7 per second
        assert [api.get("/api/v4/account").status_code for _ in range(7)] == [200] * 7


def recording_client(amo: AmoCrmSandbox, sleeps: list[float]) -> AmoCrmClient:
    limiter = RateLimiter(sleep=sleeps.append)
    return AmoCrmClient(MemoryTokenStore(oauth_tokens(amo)), limiter=limiter)


def test_a_429_with_a_short_retry_after_is_waited_out_and_sent_again(amo: AmoCrmSandbox) -> None:
    amo.retry_after = 1
    amo.add_fault({"status": 429, "count": 1})
    sleeps: list[float] = []
    api = recording_client(amo, sleeps)
    facts = AmoCrmAdapter(api, sleep=lambda _: None).facts(NEW_NUMBER)
    assert facts.found == () and facts.users
    assert any(0.8 <= wait <= 1.0 for wait in sleeps), sleeps


def test_a_long_retry_after_goes_back_to_the_workflow_and_holds_the_account(amo: AmoCrmSandbox) -> None:
    amo.retry_after = 30
    amo.add_fault({"status": 429, "count": 1})
    sleeps: list[float] = []
    api = recording_client(amo, sleeps)
    with pytest.raises(CrmRateLimited) as throttled:
        api.get("/api/v4/account")
    assert throttled.value.retry_after == 30.0
    assert 29 <= api.limiter.reserve() <= 30, "no request of this account goes before amoCRM said"


def test_without_retry_after_a_429_is_handed_back_at_once(amo: AmoCrmSandbox) -> None:
    amo.add_fault({"status": 429, "count": 1})
    sleeps: list[float] = []
    with pytest.raises(CrmRateLimited) as throttled:
        recording_client(amo, sleeps).get("/api/v4/account")
    assert throttled.value.retry_after is None and sleeps == []


# --- 15: a number that is only in «Неразобранное» ---------------------------------------------------------


def test_a_callback_to_a_number_only_in_unsorted_is_filed_on_its_unsorted_lead(
    amo: AmoCrmSandbox, adapter: AmoCrmAdapter
) -> None:
    unsorted = unsorted_lead()
    done = run(adapter, [unsorted], {})
    lead = next(r for r in done["create_unsorted"].refs if r.kind == "deal")

    (found,) = adapter.facts(NEW_NUMBER).found
    assert (found.kind, found.id, found.has_open("deal")) == ("deal", lead.id, True)
    assert found.fields["unsorted_uid"] == amo.state()["unsorted"][0]["uid"]

    callback = log_call(
        key="log_call:leg-2",
        direction="outgoing",
        started_at=int(time.time()),
        customer=found.ref(),
    )
    outcome = (
        AmoCrmAdapter(adapter.client, sleep=lambda _: None).for_call(f"{ENTRY}-2").execute(callback, {}, {})
    )
    assert [(r.kind, r.id) for r in outcome.refs] == [("deal", lead.id)]
    state = amo.state()
    assert len(state["contacts"]) == 1, "the unsorted lead's contact, and no second one"
    notes = [n for n in state["notes"] if n["entity_id"] == int(lead.id)]
    assert [n["note_type"] for n in notes] == ["call_out"]
