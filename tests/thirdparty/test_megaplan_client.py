"""An independent Megaplan v3 client (PyPI `megaplan-sdk`, unchanged) against the Megaplan sandbox,
doing what the bridge relies on. Its authors checked much of it on a live account, so where it and the
sandbox disagree the sandbox is suspect; each test says who is at fault when it fails: the library, the
sandbox, or the real API (as that library reports it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.crm.megaplan import DEFAULT_LOGIN, DEFAULT_PASSWORD, MegaplanSandbox

sdk = pytest.importorskip("megaplan_sdk", reason="megaplan-sdk is a dev dependency (pip install -e '.[dev]')")
from megaplan_sdk import MegaplanClient, TradeFilterBuilder  # noqa: E402
from megaplan_sdk.exceptions import ServerError  # noqa: E402

SALES, NEW_REQUEST, NEGOTIATION = "9000001", "9100001", "9100002"


@pytest.fixture
def mp() -> Iterator[MegaplanSandbox]:
    with MegaplanSandbox(port=0) as sandbox:
        yield sandbox


def run(mp: MegaplanSandbox, steps: Any) -> Any:
    """`steps(client)` with a library client logged in to the sandbox with the integration's password."""

    async def go() -> Any:
        async with MegaplanClient(
            base_url=mp.url,
            username=DEFAULT_LOGIN,
            password=DEFAULT_PASSWORD,
            allow_http=True,  # the sandbox listens on plain HTTP on loopback
            max_retries=0,
            enable_cache=False,
        ) as client:
            return await steps(client)

    return asyncio.run(go())


def test_library_logs_in_with_the_password_grant_and_lists_employees(mp: MegaplanSandbox) -> None:
    """At fault if it fails: the sandbox (the token endpoint or the envelope)."""

    async def steps(client: MegaplanClient) -> list[Any]:
        return await client.employees.list(limit=10)

    employees = run(mp, steps)
    assert {str(e.id) for e in employees} >= {"8000001", "8000002"}
    (grant,) = [r for r in mp.requests if r.path == "/api/v3/auth/access_token"]
    assert grant.status == 200


def test_library_creates_a_client_finds_it_by_phone_and_by_company_search(mp: MegaplanSandbox) -> None:
    """The bridge's client writes and look-ups. At fault if it fails: the sandbox, unless the library
    sends a shape the v3 docs do not describe."""

    async def steps(client: MegaplanClient) -> tuple[Any, list[Any], list[Any]]:
        made = await client.contractors.create(
            {
                "contentType": "ContractorHuman",
                "firstName": "Новый (16:30 05.03.2018, входящий вызов)",
                "contactInfo": [{"contentType": "ContactInfo", "type": "phone", "value": "+74951234567"}],
                "responsibles": [{"contentType": "Employee", "id": 8000002}],
            }
        )
        by_phone = await client.contractors.list(q="4951234567")
        by_search = await client.contractors.search("Новый")
        return made, by_phone, by_search

    made, by_phone, by_search = run(mp, steps)
    assert [str(c.id) for c in by_phone] == [str(made.id)]
    assert [str(c.id) for c in by_search] == [str(made.id)]  # contractorCompany/search: both kinds
    stored = mp.store.contractors[str(made.id)]
    assert [r["id"] for r in stored["responsibles"]] == ["8000002"]  # an int id in a link entity


def test_library_creates_a_deal_finds_it_by_client_and_moves_it(mp: MegaplanSandbox) -> None:
    """Deals by `FilterTermRef` (the library's `field_ref` sends a list; its README one object) and by
    `contractor/{id}/deals`; a transition by bare id. At fault if it fails: the sandbox."""
    (client_id,) = mp.seed({"contractors": [{"firstName": "Клиент", "phones": ["+74950001122"]}]})[
        "contractors"
    ]
    link = {"contentType": "ContractorHuman", "id": int(client_id)}

    async def steps(client: MegaplanClient) -> dict[str, Any]:
        deal = await client.deals.create(
            {
                "name": "Клиент",
                "program": {"contentType": "Program", "id": int(SALES)},
                "contractor": link,
                "manager": {"contentType": "Employee", "id": 8000002},
            }
        )
        as_list = TradeFilterBuilder().field_ref("contractor").in_list([link]).build()
        as_object = TradeFilterBuilder().field_ref("contractor").equals(link).build()
        as_object["config"]["termGroup"]["terms"][0]["value"] = link  # the README's single object
        found = {
            "list": await client.deals.list(filter=as_list),
            "object": await client.deals.list(filter=as_object),
            "route": await client.contractors.get_deals(int(client_id)),
        }
        full = await client.raw("GET", f"/api/v3/deal/{deal.id}")
        (step,) = [t for t in full["data"]["possibleTransitions"] if t["stateTo"]["id"] == NEGOTIATION]
        await client.deals.apply_transition(int(deal.id), step["id"])  # a bare id
        return {"deal": deal, **found}

    got = run(mp, steps)
    deal_id = str(got["deal"].id)
    for way in ("list", "object", "route"):
        assert [str(d.id) for d in got[way]] == [deal_id], way
    assert mp.store.deals[deal_id]["state"]["id"] == NEGOTIATION


def test_library_writes_a_finished_call_to_the_history_and_finds_it_by_provider_id(
    mp: MegaplanSandbox,
) -> None:
    """The library has no telephony resource: `raw()` on the documented routes. At fault if it fails:
    the sandbox."""
    call = {
        "contentType": "CallInfo",
        "providerId": "entry-1:log_call",
        "fromPhone": "+74951234567",
        "toPhone": "74950000000",
        "type": "in",
        "toUser": {"contentType": "Employee", "id": "8000001"},
    }

    async def steps(client: MegaplanClient) -> tuple[Any, Any]:
        written = await client.raw("POST", "/api/v3/callInfo/history", json=[call])
        found = await client.raw("GET", "/api/v3/callInfo/provider", query={"providerId": "entry-1:log_call"})
        return written["data"], found["data"]

    written, found = run(mp, steps)
    assert written[0]["state"] == "finished" and found["id"] == written[0]["id"]
    assert mp.state()["widget_events"] == []


def test_client_comments_fail_as_the_library_says_real_accounts_do_and_deal_comments_work(
    mp: MegaplanSandbox,
) -> None:
    """The library documents «Contractor comments are not supported by Megaplan API (returns 500)»: if
    this fails, the real API (as the library reports it) and the sandbox disagree — the sandbox is at
    fault. Deal comments are the bridge's fallback."""
    (client_id,) = mp.seed({"contractors": [{"firstName": "Клиент"}]})["contractors"]
    (deal_id,) = mp.seed({"deals": [{"contractor_id": client_id}]})["deals"]

    async def steps(client: MegaplanClient) -> Any:
        with pytest.raises(ServerError):
            await client.comments.create(int(client_id), content="Звонок", entity_type="contractor")
        return await client.comments.create(int(deal_id), content="Звонок [mango:x]", entity_type="deal")

    comment = run(mp, steps)
    assert "[mango:x]" in json.dumps(mp.state()["comments"], ensure_ascii=False)
    assert comment is not None
