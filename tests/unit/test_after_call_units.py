"""The pure parts of the after-call work: the polling schedule, Mango's answers, the visitor."""

from __future__ import annotations

import itertools

from mango_bridge.calls.visitor import Visitor
from mango_bridge.enrichment.results import client_rating, selected_topics, transcript
from mango_bridge.enrichment.schedule import ANALYTICS_SCHEDULE, HOUR, RATING_SCHEDULE, first_due, next_due

ORIGIN = 1_764_000_000


def test_analytics_polls_are_frequent_first_sparse_later_and_end_at_24_hours() -> None:
    times, now = [], ORIGIN
    due = first_due(ORIGIN, now, ANALYTICS_SCHEDULE)
    while due is not None:
        times.append(due - ORIGIN)
        due = next_due(ORIGIN, due, ANALYTICS_SCHEDULE)
    assert times[0] == 180 and times[-1] == 24 * HOUR
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == sorted(gaps)  # never denser later on
    assert len(times) == 9


def test_a_late_poll_does_not_cause_a_burst_of_catch_up_polls() -> None:
    assert next_due(ORIGIN, ORIGIN + 5 * HOUR, ANALYTICS_SCHEDULE) == ORIGIN + 8 * HOUR
    assert next_due(ORIGIN, ORIGIN + 24 * HOUR, ANALYTICS_SCHEDULE) is None
    assert first_due(ORIGIN, ORIGIN + 30 * HOUR, ANALYTICS_SCHEDULE) == ORIGIN + 30 * HOUR


def test_ratings_are_asked_for_an_hour() -> None:
    assert RATING_SCHEDULE[-1] == HOUR


def test_transcript_phrases_keep_who_said_what() -> None:
    item = {
        "recording_id": "r",
        "names": {"client": "Клиент", "operator": "Анна Смирнова"},
        "phrases": [["operator", "Здравствуйте"], ["client", " Добрый день "], ["client", ""], "junk"],
    }
    phrases = transcript(item)
    assert [(p.speaker, p.name, p.text) for p in phrases] == [
        ("operator", "Анна Смирнова", "Здравствуйте"),
        ("client", "Клиент", "Добрый день"),
    ]
    assert transcript({"recording_id": "r"}) == ()


def test_topics_are_filtered_to_the_selected_ones_by_name_in_any_case() -> None:
    item = {"categories": [{"name": "Грубость"}, {"name": "клиент отказался от покупки"}]}
    assert selected_topics(item, ["Клиент отказался от покупки"]) == ("Клиент отказался от покупки",)
    assert selected_topics(item, ["Сотрудник поздоровался"]) == ()
    assert selected_topics({"recording_id": "r"}, ["x"]) is None


def test_mark_client_readings() -> None:
    assert client_rating({"mark_client": 9}) == 9
    assert client_rating({"mark_client": "10"}) == 10
    assert client_rating({"mark_client": -1}) == "refused"
    assert client_rating({"mark_client": None}) is None
    assert client_rating({}) is None


def test_the_visitor_from_mangos_dct_answer() -> None:
    visitor = Visitor.from_mango(
        "74950001122",
        {
            "uid": "u1",
            "ga_cid": "GA1",
            "location": {"country_code": "RU", "city": ""},
            "channel": {"source": "google", "medium": "cpc"},
            "duration": 42,
            "current_page": {"url": "https://x.example/"},
            "rs_cid": "77",
        },
    )
    assert visitor is not None
    assert visitor.city == "RU" and visitor.time_on_site == 42 and visitor.roistat_id == "77"
    fields = visitor.fields()
    assert fields["utm_source"] == "google" and fields["Тип номера"] == "динамический"
    assert "utm_campaign" not in fields
    assert Visitor.from_mango("74950001122", {}) is None
