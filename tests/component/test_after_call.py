"""After the call (F20–F23): a played call is written to the amoCRM sandbox by the real post-call
work, then the after-call sweep asks the Mango sandbox for transcripts, topics and the client's
rating on a fast-forwarded clock, and what amoCRM ends up holding is checked."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mango_bridge.call_tracking import capture
from mango_bridge.crm.amocrm import AmoCrmAdapter, AmoCrmClient, MemoryTokenStore
from mango_bridge.enrichment.schedule import ANALYTICS_SCHEDULE, HOUR
from mango_bridge.enrichment.sweep import Sweeper
from mango_bridge.ingest import refold
from mango_bridge.mango.notifications import entry_id_of, parse_notification
from mango_bridge.settings.model import TenantSettings
from mango_bridge.store.calls import CallStore, call_pk
from mango_bridge.store.enrichment import EnrichmentJobs
from mango_bridge.store.tenants import TenantStore
from mango_bridge.workflows.executor import IntentExecutor
from mango_bridge.workflows.post_call import EarlierCallPending, PostCall
from sandbox.crm.amocrm import AmoCrmSandbox
from sandbox.mango import player
from sandbox.mango.api import MangoApiSandbox

KEY, SALT, TENANT = "acmekey0123456789", "acmesalt0123456789", "acme"
SELECTED = ["Клиент отказался от покупки", "Сотрудник поздоровался"]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mango(clock: Clock) -> Iterator[MangoApiSandbox]:
    with MangoApiSandbox(port=0, api_key=KEY, api_salt=SALT) as sandbox:
        sandbox.after_call.clock = clock  # type: ignore[attr-defined]
        yield sandbox


@pytest.fixture
def amo() -> Iterator[AmoCrmSandbox]:
    with AmoCrmSandbox(port=0) as sandbox:
        yield sandbox


@pytest.fixture
def adapter(amo: AmoCrmSandbox) -> Iterator[AmoCrmAdapter]:
    from mango_bridge.crm.amocrm.tokens import Tokens

    pair = amo.issue_tokens()
    tokens = Tokens(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_at=time.time() + 10 * 86400,
        client_id=amo.auth.client_id,
        client_secret=amo.auth.client_secret,
        redirect_uri=amo.auth.redirect_uri,
        base_url=amo.url,
    )
    api = AmoCrmClient(MemoryTokenStore(tokens))
    yield AmoCrmAdapter(api, sleep=lambda _: None)
    api.close()


def settings(mango: MangoApiSandbox, amo: AmoCrmSandbox, **overrides: Any) -> TenantSettings:
    body: dict[str, Any] = {
        "mango": {"api_key": KEY, "api_base_url": mango.url},
        "crm": {"kind": "amocrm", "url": amo.url, "credentials": {"secret_name": "unused"}},
        "employees": [
            {"extension": "101", "crm_user_id": "8000001"},
            {"extension": "102", "crm_user_id": "8000002"},
        ],
        "new_number": {"answered_incoming": {"create": ["contact"]}},
        "recordings": True,
        "quality_score": True,
        "speech_analytics": {"topics_enabled": True, "topics": SELECTED, "texts_enabled": True},
    }
    body.update(overrides)
    return TenantSettings.model_validate(body)


class World:
    def __init__(
        self, aws: Any, mango: MangoApiSandbox, amo: AmoCrmSandbox, adapter: AmoCrmAdapter, clock: Clock
    ) -> None:
        self.mango, self.amo, self.adapter, self.clock = mango, amo, adapter, clock
        self.tenants = TenantStore()
        self.tenants.put_salt(TENANT, SALT)
        self.jobs = EnrichmentJobs()
        executor = IntentExecutor()
        self.post_call = PostCall(
            adapters=lambda _t, _s: adapter,
            recording_link=lambda _t, rid: f"https://bridge.example/recordings/{TENANT}/{rid}",
            executor=executor,
            jobs=self.jobs,
            clock=clock,
        )
        self.sweeper = Sweeper(
            adapters=lambda _t, _s: adapter, executor=executor, jobs=self.jobs, clock=clock
        )

    def configure(self, **settings_overrides: Any) -> None:
        self.tenants.put(TENANT, settings(self.mango, self.amo, **settings_overrides), None)

    def play(
        self,
        scenario: str,
        caller: str,
        *,
        withhold: int | None = None,
        dct_number: str | None = None,
        ago: int = 200,
        post_call: bool = True,
    ) -> tuple[str, list[str]]:
        """Play a scenario into the journal (the `withhold`-th recording never becomes downloadable),
        run the post-call work; the entry id and the recordings Mango made downloadable."""
        loaded = player.load_scenario(scenario)
        loaded.vars["caller"] = caller
        rendered = player.render(loaded, base_time=int(self.clock()) - ago, seed=int(caller) + ago)
        calls = CallStore()
        announced = player.ready_recording_ids(rendered.deliveries)
        withheld = {announced[withhold]} if withhold is not None else set()
        deliveries = [
            d
            for d in rendered.deliveries
            if not (d.suffix == "events/record/added" and d.data["recording_id"] in withheld)
        ]
        if dct_number:
            deliveries = [on_tracking_number(d, dct_number) for d in deliveries]
        entry_id = ""
        for number, delivery in enumerate(deliveries):
            notification = parse_notification(delivery.suffix, delivery.json_text)
            entry_id = entry_id_of(notification) or entry_id
            calls.put_event(
                call_pk(TENANT, entry_id),
                notification.kind,
                notification.natural_key,
                delivery.suffix,
                delivery.json_text,
            )
            if number == 0 and dct_number:  # the route function's job at the first event with `dct`
                refold(calls, TENANT, entry_id)
                capture(TENANT, entry_id, dct_number)
        refold(calls, TENANT, entry_id)
        ready = player.ready_recording_ids(deliveries)
        for recording_id in ready:
            self.mango.add_recording(recording_id)
        if post_call:
            self.post_call.run(TENANT, entry_id, final=True)
        return entry_id, ready

    def sweep_until(self, until: float) -> int:
        """Run the sweep at every time a job is due, up to `until`; how many sweeps ran."""
        sweeps = 0
        while True:
            waiting = self.jobs.due(until)
            if not waiting:
                self.clock.now = max(self.clock.now, until)
                return sweeps
            self.clock.now = max(self.clock.now, min(job.due for job in waiting))
            self.sweeper.run()
            sweeps += 1

    def notes(self, needle: str) -> list[str]:
        return [
            str((n.get("params") or {}).get("text"))
            for n in self.amo.state()["notes"]
            if needle in str((n.get("params") or {}).get("text"))
        ]

    def topics(self) -> list[str]:
        """The topics lines of every note, whether written alone or with the transcript."""
        return [line for text in self.notes("тематики") for line in text.splitlines() if "тематики" in line]

    def asked(self, method: str) -> list[dict[str, Any]]:
        return [a for a in self.mango.after_call.describe()["asked"] if a["method"] == method]  # type: ignore[attr-defined]


def on_tracking_number(delivery: Any, number: str) -> Any:
    data = delivery.data
    if "dct" not in data:
        return delivery
    data["dct"] = {"number": number, "type": 1}
    return dataclasses.replace(delivery, json_text=json.dumps(data, ensure_ascii=False))


@pytest.fixture
def world(
    aws: Any, mango: MangoApiSandbox, amo: AmoCrmSandbox, adapter: AmoCrmAdapter, clock: Clock
) -> World:
    w = World(aws, mango, amo, adapter, clock)
    w.configure()
    return w


def analytics(world: World, recordings: dict[str, dict[str, Any]] | None = None, **defaults: Any) -> None:
    world.mango.after_call.configure(  # type: ignore[attr-defined]
        {"defaults": defaults, "recordings": recordings or {}}
    )


def test_a_transcript_ready_after_3_minutes_and_topics_later_reach_the_client_card(world: World) -> None:
    analytics(
        world,
        transcript_after_seconds=180,
        topics_after_seconds=900,
        topics=["Сотрудник поздоровался", "Клиент спросил о цене"],
    )
    entry_id, [recording] = world.play("incoming-answered", "79161110001")

    world.sweep_until(world.clock() + 11 * 60)
    [text] = world.notes("Текст разговора")
    assert "Сотрудник: Здравствуйте" in text and "Клиент: Добрый день" in text
    assert world.topics() == []  # not tagged yet

    world.sweep_until(world.clock() + 30 * 60)
    assert world.topics() == ["Речевая аналитика — тематики: Сотрудник поздоровался"]
    [job] = [j for j in world.jobs.for_call(TENANT, entry_id) if j.kind == "analytics"]
    assert job.status == "done" and job.recording_id == recording


def test_a_transcript_ready_after_23_hours_is_still_fetched_then_polling_stops(world: World) -> None:
    analytics(world, transcript_after_seconds=23 * HOUR, topics_after_seconds=0)
    _entry_id, _ = world.play("incoming-answered", "79161110002")

    world.sweep_until(world.clock() + 22 * HOUR)
    assert world.notes("Текст разговора") == []
    world.sweep_until(world.clock() + 3 * HOUR)
    assert len(world.notes("Текст разговора")) == 1
    asked = len(world.asked("recording_transcripts"))
    world.sweep_until(world.clock() + 48 * HOUR)
    assert len(world.asked("recording_transcripts")) == asked
    assert asked == len(ANALYTICS_SCHEDULE)  # every scheduled poll, the last one at 24 h found it


def test_a_transcript_that_never_comes_stops_being_asked_for_at_24_hours(world: World) -> None:
    analytics(world, transcript_after_seconds=None, topics_after_seconds=0)
    entry_id, _ = world.play("incoming-answered", "79161110003")
    origin = world.clock()

    world.sweep_until(origin + 7 * 86400)
    polls = world.asked("recording_transcripts")
    assert len(polls) == len(ANALYTICS_SCHEDULE)
    assert max(p["at"] for p in polls) <= origin + 24 * HOUR + 1
    [job] = [j for j in world.jobs.for_call(TENANT, entry_id) if j.kind == "analytics"]
    assert job.status == "expired" and "24 hours" in job.detail
    assert world.jobs.due(origin + 30 * 86400) == []
    assert world.notes("Текст разговора") == []


def test_only_the_selected_topics_are_saved(world: World) -> None:
    analytics(world, topics=["Грубость", "Клиент отказался от покупки", "Клиент спросил о цене"])
    world.play("incoming-answered", "79161110004")
    world.sweep_until(world.clock() + HOUR)
    assert world.topics() == ["Речевая аналитика — тематики: Клиент отказался от покупки"]


def test_a_recording_with_none_of_the_selected_topics_writes_no_topics(world: World) -> None:
    analytics(world, topics=["Грубость"])
    entry_id, _ = world.play("incoming-answered", "79161110005")
    world.sweep_until(world.clock() + HOUR)
    assert world.topics() == []
    [job] = [j for j in world.jobs.for_call(TENANT, entry_id) if j.kind == "analytics"]
    assert job.status == "done" and job.got_topics


def test_only_recordings_delivered_to_the_crm_are_awaited(world: World) -> None:
    entry_id, ready = world.play("consultative-transfer", "79161110006")
    assert len([j for j in world.jobs.for_call(TENANT, entry_id) if j.kind == "analytics"]) == 2
    entry_id, ready = world.play("consultative-transfer", "79161110007", withhold=1)
    jobs = [j for j in world.jobs.for_call(TENANT, entry_id) if j.kind == "analytics"]
    assert len(ready) == 1 and [j.recording_id for j in jobs] == ready


def test_texts_off_asks_for_topics_only(world: World) -> None:
    world.configure(speech_analytics={"topics_enabled": True, "topics": SELECTED, "texts_enabled": False})
    analytics(world)
    world.play("incoming-answered", "79161110008")
    world.sweep_until(world.clock() + HOUR)
    assert world.asked("recording_transcripts") == []
    assert world.topics() == ["Речевая аналитика — тематики: Сотрудник поздоровался"]
    assert world.notes("Текст разговора") == []


def test_the_clients_rating_is_written_when_given(world: World) -> None:
    analytics(world)
    entry_id, _ = world.play("incoming-answered", "79161110009")
    world.mango.after_call.configure({"ratings": {entry_id: 9}, "rating_after_seconds": 120})  # type: ignore[attr-defined]
    world.sweep_until(world.clock() + 2 * HOUR)
    assert world.notes("Оценка качества") == ["Оценка качества (постзвонковая оценка клиента): 9 из 10"]
    asks = world.asked("cc/call")
    assert len(asks) > 1 and asks[-1]["at"] - asks[0]["at"] >= 120  # asked again until the client rated


@pytest.mark.parametrize("mark", [None, -1])
def test_no_rating_or_a_refused_one_writes_nothing(world: World, mark: int | None) -> None:
    analytics(world)
    entry_id, _ = world.play("incoming-answered", "79161110020" if mark is None else "79161110021")
    world.mango.after_call.configure({"ratings": {entry_id: mark}})  # type: ignore[attr-defined]
    world.sweep_until(world.clock() + 3 * HOUR)
    assert world.notes("Оценка качества") == []
    [job] = [j for j in world.jobs.for_call(TENANT, entry_id) if j.kind == "rating"]
    assert job.status == ("expired" if mark is None else "done")
    assert len(world.asked("cc/call")) == (5 if mark is None else 1)


def test_a_crm_outage_delays_the_transcript_but_loses_nothing(world: World) -> None:
    analytics(world, topics_after_seconds=None)
    world.configure(speech_analytics={"texts_enabled": True})
    entry_id, _ = world.play("incoming-answered", "79161110010")
    world.amo.add_fault({"outage": True})
    world.sweep_until(world.clock() + 31 * 60)
    assert world.notes("Текст разговора") == []
    [job] = world.jobs.for_call(TENANT, entry_id)[:1]
    assert job.status == "waiting" and "CRM" in job.detail
    world.amo.clear_faults()
    world.sweep_until(world.clock() + 2 * HOUR)
    assert len(world.notes("Текст разговора")) == 1


def test_switching_speech_analytics_off_stops_the_polling(world: World) -> None:
    analytics(world, transcript_after_seconds=None, topics_after_seconds=None)
    entry_id, _ = world.play("incoming-answered", "79161110011")
    world.sweep_until(world.clock() + 15 * 60)
    world.configure(speech_analytics={}, quality_score=False)
    world.sweep_until(world.clock() + 2 * 86400)
    statuses = {j.kind: (j.status, j.detail) for j in world.jobs.for_call(TENANT, entry_id)}
    assert statuses["analytics"][0] == "switched_off"
    assert len(world.asked("recording_transcripts")) == 2


VISITOR = {
    "uid": "b7c1d2e3",
    "ga_cid": "GA1.2.111.222",
    "ya_cid": "1690000000123",
    "location": {"country_code": "RU", "city": "Подольск"},
    "channel": {
        "source": "yandex",
        "medium": "cpc",
        "campaign": "winter-sale",
        "content": "ad-3",
        "term": "доставка",
    },
    "duration": 312,
    "current_page": {"url": "https://shop.example/delivery", "date": "2026-11-25T09:00:00Z"},
    "device": "mobile",
    "widget_name": "Основной сайт",
}


def test_a_new_client_on_a_dynamic_number_gets_the_visitors_data(world: World) -> None:
    world.configure(call_tracking=True, new_number={"answered_incoming": {"create": ["contact"]}})
    world.mango.after_call.configure({"dct": {"74950001122": VISITOR}})  # type: ignore[attr-defined]
    _entry_id, _ = world.play("incoming-answered", "79161110030", dct_number="74950001122")
    [note] = world.notes("Коллтрекинг")
    for text in (
        "динамический номер 74950001122",
        "utm_source: yandex",
        "utm_campaign: winter-sale",
        "utm_term: доставка",
        "Город (или код страны): Подольск",
        "Страница звонка: https://shop.example/delivery",
        "GA Client ID: GA1.2.111.222",
        "Устройство: mobile",
    ):
        assert text in note
    assert world.asked("user_info_by_dct_number") == [
        {
            "method": "user_info_by_dct_number",
            "at": world.asked("user_info_by_dct_number")[0]["at"],
            "number": "74950001122",
        }
    ]


def test_an_existing_client_and_a_repeat_call_get_no_call_tracking_data(world: World) -> None:
    world.configure(call_tracking=True, new_number={"answered_incoming": {"create": ["contact"]}})
    world.mango.after_call.configure({"dct": {"74950001122": VISITOR}})  # type: ignore[attr-defined]
    world.play("incoming-answered", "79161110031", dct_number="74950001122")
    assert len(world.notes("Коллтрекинг")) == 1
    world.play("incoming-answered", "79161110031", dct_number="74950001122")  # the same client again
    assert len(world.notes("Коллтрекинг")) == 1


def test_call_tracking_off_asks_mango_nothing(world: World) -> None:
    world.configure(call_tracking=False)
    world.mango.after_call.configure({"dct": {"74950001122": VISITOR}})  # type: ignore[attr-defined]
    world.play("incoming-answered", "79161110032", dct_number="74950001122")
    assert world.asked("user_info_by_dct_number") == []
    assert world.notes("Коллтрекинг") == []


def test_a_customers_calls_are_written_in_the_order_they_were_made(world: World) -> None:
    """The second call is not decided before the first is written: one client, not two."""
    first, _ = world.play("incoming-answered", "79161110040", ago=900, post_call=False)
    second, _ = world.play("incoming-answered", "79161110040", ago=300, post_call=False)
    with pytest.raises(EarlierCallPending, match="1 earlier call"):
        world.post_call.run(TENANT, second, final=True)
    world.post_call.run(TENANT, first, final=True)
    world.post_call.run(TENANT, second, final=True)
    contacts = [c for c in world.amo.state()["contacts"] if c["name"].startswith("Новый")]
    assert len(contacts) == 1


def test_an_old_call_does_not_wait_for_earlier_ones(world: World) -> None:
    """A replay or the nightly sync writes a call long after it ended: ordering no longer applies."""
    world.play("incoming-answered", "79161110041", ago=7200, post_call=False)
    second, _ = world.play("incoming-answered", "79161110041", ago=3600, post_call=False)
    for reason in ("replay", "reconcile"):
        world.post_call.run(TENANT, second, final=True, reason=reason)
        assert world.post_call.outcomes.get(TENANT, second).status == "done"


def test_a_live_call_stops_waiting_for_earlier_ones_after_its_attempts(world: World) -> None:
    """Ordering is bounded: an earlier call whose post-call work is underway holds the next call back
    for up to ORDERING_FINISHED_ATTEMPTS retries (about an hour), then the next call is written anyway."""
    from mango_bridge.workflows.post_call import ORDERING_ATTEMPTS, ORDERING_FINISHED_ATTEMPTS

    world.play("incoming-answered", "79161110042", ago=900, post_call=False)
    second, _ = world.play("incoming-answered", "79161110042", ago=300, post_call=False)
    for attempt in (ORDERING_ATTEMPTS - 1, ORDERING_ATTEMPTS, ORDERING_FINISHED_ATTEMPTS - 1):
        with pytest.raises(EarlierCallPending):
            world.post_call.run(TENANT, second, final=True, attempt=attempt)
    world.post_call.run(TENANT, second, final=True, attempt=ORDERING_FINISHED_ATTEMPTS)
    assert world.post_call.outcomes.get(TENANT, second).status == "done"
