"""The Omnidesk sandbox speaks Omnidesk's API: Basic auth, wrapped bodies, numbered lists, `^` search
anchors, the per-minute limit with its headers, Omnidesk-style errors, faults and control endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.crm.omnidesk import DEFAULT_API_KEY, DEFAULT_STAFF_EMAIL, OmnideskSandbox
from sandbox.crm.omnidesk.demo import render
from sandbox.crm.omnidesk.store import matches

AUTH = (DEFAULT_STAFF_EMAIL, DEFAULT_API_KEY)


@pytest.fixture
def desk() -> Iterator[tuple[OmnideskSandbox, httpx.Client]]:
    with OmnideskSandbox() as server, httpx.Client(base_url=server.url, auth=AUTH, trust_env=False) as http:
        yield server, http


def test_api_needs_the_staff_email_and_api_key(desk: tuple[OmnideskSandbox, httpx.Client]) -> None:
    server, _ = desk
    answer = httpx.get(f"{server.url}/api/staff.json", auth=(DEFAULT_STAFF_EMAIL, "wrong"))
    assert answer.status_code == 401
    assert answer.json() == {
        "status": "error",
        "error": "unauthorized",
        "description": "Wrong staff e-mail or API key",
    }


def test_a_case_is_created_for_the_user_with_that_number_and_listed_as_omnidesk_lists(
    desk: tuple[OmnideskSandbox, httpx.Client],
) -> None:
    _, http = desk
    user = http.post("/api/users.json", json={"user": {"user_phone": "+79161234567"}}).json()["user"]
    body = {
        "case": {"user_phone": "79161234567", "subject": "Звонок", "content": "Текст", "status": "waiting"}
    }
    case = http.post("/api/cases.json", json=body).json()["case"]
    assert (case["user_id"], case["status"], case["channel"]) == (user["user_id"], "waiting", "web")
    listed = http.get("/api/cases.json", params={"user_id": user["user_id"], "status[]": "waiting"}).json()
    assert listed == {"0": {"case": case}, "total_count": 1}
    assert http.get("/api/cases.json", params={"status[]": "open"}).json() == {"total_count": 0}


def test_messages_and_notes_are_kept_in_the_case(desk: tuple[OmnideskSandbox, httpx.Client]) -> None:
    server, http = desk
    body = {"case": {"user_phone": "+79160000001", "subject": "S", "content": "C", "staff_id": 100}}
    case_id = http.post("/api/cases.json", json=body).json()["case"]["case_id"]
    reply = http.post(
        f"/api/cases/{case_id}/messages.json", json={"message": {"content": "R", "staff_id": 100}}
    )
    note = http.post(f"/api/cases/{case_id}/note.json", json={"note": {"content": "N", "staff_id": 100}})
    assert reply.status_code == note.status_code == 201
    assert note.json()["message"]["note"] is True
    (case,) = server.state()["cases"]
    assert [(m["content"], m["note"]) for m in case["messages"]] == [("C", False), ("R", False), ("N", True)]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"case": {"subject": "S", "content": "C"}}, 400, "user_identifier_required"),
        ({"case": {"user_phone": "+7916", "content": "C"}}, 400, "subject_required"),
        (
            {"case": {"user_phone": "+7916", "subject": "S", "content": "C", "status": "new"}},
            400,
            "status_invalid",
        ),
        (
            {"case": {"user_phone": "+7916", "subject": "S", "content": "C", "staff_id": 5}},
            400,
            "staff_not_found",
        ),
        (
            {"case": {"user_phone": "+7916", "subject": "S", "content": "C", "labels": [9]}},
            400,
            "label_not_found",
        ),
        ({"subject": "S"}, 400, "body_invalid"),
    ],
)
def test_bad_cases_are_refused_with_omnidesk_style_errors(
    desk: tuple[OmnideskSandbox, httpx.Client], body: dict, status: int, error: str
) -> None:
    _, http = desk
    answer = http.post("/api/cases.json", json=body)
    assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_a_second_user_with_the_same_number_is_refused(desk: tuple[OmnideskSandbox, httpx.Client]) -> None:
    _, http = desk
    http.post("/api/users.json", json={"user": {"user_phone": "+79160000002"}})
    again = http.post("/api/users.json", json={"user": {"user_phone": "79160000002"}})
    assert (again.status_code, again.json()["error"]) == (400, "user_already_exists")


@pytest.mark.parametrize(
    ("value", "pattern", "found"),
    [
        ("+79161234567", "^+79161234567^", True),
        ("+791612345670", "^+79161234567^", False),
        ("+79161234567", "^+7916", True),
        ("+79161234567", "4567^", True),
        ("+79161234567", "1612", True),
    ],
)
def test_search_anchors_follow_omnidesk(value: str, pattern: str, found: bool) -> None:
    assert matches(value, pattern) is found


def test_every_answer_carries_the_minute_allowance_and_429_comes_when_it_is_spent(
    desk: tuple[OmnideskSandbox, httpx.Client],
) -> None:
    server, http = desk
    server.rate_limit = 2
    first = http.get("/api/staff.json")
    assert (first.headers["rate_limit_per_minute"], first.headers["api_calls_left"]) == ("2", "1")
    http.get("/api/staff.json")
    refused = http.get("/api/staff.json")
    assert refused.status_code == 429 and int(refused.headers["retry_after"]) > 0
    server.clock.advance(61)  # type: ignore[attr-defined]
    assert http.get("/api/staff.json").status_code == 200


def test_faults_and_control_endpoints(desk: tuple[OmnideskSandbox, httpx.Client]) -> None:
    server, http = desk
    with httpx.Client(base_url=server.url, trust_env=False) as control:
        control.post("/_sandbox/faults", json={"status": 503, "count": 1, "path": "api/staff"})
        assert http.get("/api/staff.json").status_code == 503
        assert http.get("/api/staff.json").status_code == 200
        seeded = control.post(
            "/_sandbox/seed", json={"staff": [{"staff_id": 8000001, "name": "Анна"}], "labels": ["L"]}
        ).json()
        assert seeded == {"staff": [8000001], "users": [], "labels": [301], "cases": []}
        control.post("/_sandbox/reset")
        assert [s["staff_id"] for s in control.get("/_sandbox/state").json()["staff"]] == [100]


def test_the_demo_printout_lists_cases_as_an_agent_sees_them(
    desk: tuple[OmnideskSandbox, httpx.Client],
) -> None:
    server, http = desk
    body = {
        "case": {"user_phone": "+79160000003", "subject": "Входящий звонок с +79160000003", "content": "C"}
    }
    http.post("/api/cases.json", json={"case": {**body["case"], "status": "waiting", "staff_id": 100}})
    text = render(server.state())
    assert "1 пользователей, 1 обращений" in text
    assert "Входящий звонок с +79160000003" in text and "в ожидании" in text and "Администратор" in text
