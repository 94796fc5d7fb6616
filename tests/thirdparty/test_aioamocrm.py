"""A third-party amoCRM client, unchanged, against the amoCRM sandbox: `aioamocrm` (PyPI,
sinnercode228/aioamocrm) doing what the bridge relies on — find a contact by phone, create a contact and
a deal, add a call, an incoming SIP lead in «Неразобранное», a token refresh — with its own 7 requests
per second limiter against the sandbox's documented limit.

Someone else's reading of amoCRM's API meeting ours: where they disagree, the assertion says whether
the library, the sandbox or the real API is at fault. The library has no resource for calls or unsorted
leads, so those go through its generic `request`.

(`amocrm-api-wrapper` 1.0.1 was tried first: every GET of its sync client fails before leaving the
process — it passes `json=` to `httpx.Client.get`, which httpx does not take. The library's fault.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

aioamocrm = pytest.importorskip("aioamocrm", reason="dev dependency aioamocrm")

from sandbox.crm.amocrm import (  # noqa: E402
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    AmoCrmSandbox,
)

PHONE = "+79161234567"
Session = Callable[[aioamocrm.AmoCRMClient], Awaitable[Any]]


@pytest.fixture
def amo(monkeypatch: pytest.MonkeyPatch) -> Iterator[AmoCrmSandbox]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the library's httpx client trusts the environment
    with AmoCrmSandbox(port=0) as sandbox:  # the documented 7 requests per second stay on
        yield sandbox


def with_library(amo: AmoCrmSandbox, session: Session) -> Any:
    """Run `session` with the library logged in by OAuth2, as an integration would be."""
    pair = amo.issue_tokens()
    tokens = aioamocrm.TokenSet(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_at=time.time() + pair.expires_in,
    )
    auth = aioamocrm.OAuth2(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_REDIRECT_URI,
        storage=aioamocrm.MemoryTokenStorage(tokens),
    )

    async def run() -> Any:
        async with aioamocrm.AmoCRMClient(auth=auth, base_url=amo.url) as client:
            return await session(client)

    return asyncio.run(run())


def phone_field(phone: str) -> dict[str, Any]:
    return {"field_code": "PHONE", "values": [{"value": phone, "enum_code": "WORK"}]}


def test_find_by_phone_create_contact_and_deal_and_add_a_call(amo: AmoCrmSandbox) -> None:
    async def session(client: aioamocrm.AmoCRMClient) -> dict[str, Any]:
        before = await client.contacts.get_page(query=PHONE[-10:])
        (contact,) = await client.contacts.create(
            [{"name": "Иван Петров", "custom_fields_values": [phone_field(PHONE)]}]
        )
        found = await client.contacts.get_page(query=PHONE[-10:], with_=["leads"])
        (deal,) = await client.leads.create(
            [{"name": "Сделка", "_embedded": {"contacts": [{"id": contact.id}]}}]
        )
        call = {"direction": "inbound", "duration": 95, "source": "Mango Office", "phone": PHONE}
        answer = await client.request("POST", "calls", json=[{**call, "call_status": 4}])
        return {"before": before, "contact": contact, "found": found, "deal": deal, "answer": answer}

    seen = with_library(amo, session)
    assert list(seen["before"]) == [], "204 for an empty search: the library reads it as an empty page"
    assert [c.id for c in seen["found"]] == [seen["contact"].id]
    (call,) = seen["answer"]["_embedded"]["calls"]
    assert (call["entity_type"], call["entity_id"]) == ("leads", seen["deal"].id), "the single open deal"
    (note,) = [n for n in amo.state()["notes"] if n["entity_id"] == seen["deal"].id]
    assert note["note_type"] == "call_in"


def test_an_incoming_sip_lead_lands_in_unsorted_and_its_contact_stays_out_of_search(
    amo: AmoCrmSandbox,
) -> None:
    metadata = {
        "uniq": "entry-1",
        "duration": 0,
        "service_code": "mango_office",
        "phone": "+74950000000",
        "called_at": 1_772_717_400,
        "from": PHONE,
    }
    item = {
        "source_uid": "entry-1:create_unsorted",
        "source_name": "Mango Office",
        "metadata": metadata,
        "_embedded": {
            "leads": [{"name": "Новый (пропущенный вызов)"}],
            "contacts": [{"name": PHONE, "custom_fields_values": [phone_field(PHONE)]}],
        },
    }

    async def session(client: aioamocrm.AmoCRMClient) -> dict[str, Any]:
        made = await client.request("POST", "leads/unsorted/sip", json=[item])
        listed = await client.request("GET", "leads/unsorted", params={"filter": {"category": ["sip"]}})
        search = await client.contacts.get_page(query=PHONE[-10:])
        return {"made": made, "listed": listed, "search": search}

    seen = with_library(amo, session)
    (created,) = seen["made"]["_embedded"]["unsorted"]
    assert [i["uid"] for i in seen["listed"]["_embedded"]["unsorted"]] == [created["uid"]], (
        "the library sends `filter[category][0]=sip` (indexed brackets); the sandbox reads that form too"
    )
    assert list(seen["search"]) == [], "an unsorted lead's contact is not searchable until accepted [A18]"


def test_an_expired_access_token_is_refreshed_by_the_library(amo: AmoCrmSandbox) -> None:
    async def session(client: aioamocrm.AmoCRMClient) -> int:
        await client.account.get()
        amo.expire_access_tokens()
        account = await client.account.get()
        return account.id

    assert with_library(amo, session) > 0
    assert any(r["path"] == "/oauth2/access_token" for r in amo.state()["requests"]), "refreshed once"
