"""«Real accounts, not our reading of them» (findings 8–12): what the Omnidesk sandbox ends up holding
once it behaves as the sources say a real account does (docs/crm/omnidesk.md, «What is not confirmed»).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mango_bridge.crm.errors import BadSettings, CrmRateLimited
from mango_bridge.crm.omnidesk import OmnideskAdapter
from mango_bridge.policy.intents import LogCall, UpdateCase
from mango_bridge.settings.model import TenantSettings
from sandbox.crm.omnidesk import DEFAULT_API_KEY, DEFAULT_STAFF_EMAIL, OmnideskSandbox
from tests.component.test_omnidesk_adapter import (
    SETTINGS,
    adapter,
    callback,
    cases_of,
    make_adapter,
    missed,
    run_call,
    sandbox,
)

__all__ = ["adapter", "sandbox"]  # fixtures
MISSED = "Пропущенный звонок"


def opened_by_omnidesk(phone: str, **case: Any) -> dict[str, Any]:
    """A missed-call case as Omnidesk's own Mango integration opens it: channel «Звонки» (`call`)."""
    return {
        "user_phone": phone,
        "subject": f"Пропущенный звонок с {phone}",
        "content": "Пропущенный звонок",
        "channel": "call",
        "status": "open",
        "labels": [MISSED],
        **case,
    }


# --- 8: the calls channel's code is `call` ------------------------------------------------------------


def test_missed_call_grouping_finds_cases_on_the_call_channel(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    made = sandbox.seed(labels=[MISSED], cases=[opened_by_omnidesk("+79165550001")])
    (user,) = adapter.facts("+79165550001").found
    assert user.open_case_ids == (str(made["cases"][0]),)
    run_call(adapter, missed("79165550001"))
    (case,) = cases_of(sandbox, "79165550001")
    assert (case["channel"], len(case["messages"])) == ("call", 2), "the missed call joined the case"


def test_cases_the_bridge_opens_are_on_the_call_channel_and_an_unknown_code_is_refused(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    run_call(adapter, missed("79165550002"))
    (case,) = cases_of(sandbox, "79165550002")
    assert case["channel"] == "call"
    refused = httpx.post(
        f"{sandbox.url}/api/cases.json",
        auth=(DEFAULT_STAFF_EMAIL, DEFAULT_API_KEY),
        json={"case": {**opened_by_omnidesk("+79165550002"), "channel": "phone", "labels": []}},
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "channel_invalid")


# --- 9: throttling reported as 403 «rate limit exceeded» -----------------------------------------------


def test_throttling_reported_as_403_rate_limit_exceeded_is_retried_not_refused_credentials(
    sandbox: OmnideskSandbox,
) -> None:
    sandbox.throttle_status = 403
    sandbox.rate_limit = 1
    client = make_adapter(sandbox).client
    client.get("/api/staff.json")
    client._spent_until = None  # send anyway, as a second Lambda would
    with pytest.raises(CrmRateLimited) as throttled:
        client.get("/api/staff.json")
    assert throttled.value.status == 403 and (throttled.value.retry_after or 0) > 0
    assert make_adapter(sandbox).check_connection().ok is False
    assert "частоту запросов" in make_adapter(sandbox).check_connection().message


def test_a_403_without_the_rate_limit_words_is_still_refused_access(sandbox: OmnideskSandbox) -> None:
    sandbox.add_fault({"status": 403, "count": 1})
    with pytest.raises(BadSettings):
        make_adapter(sandbox).client.get("/api/staff.json")


# --- 10: `user_id` is not a documented filter of the case list -------------------------------------


def test_grouping_finds_the_open_missed_call_case_when_the_case_list_ignores_user_id(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    assert sandbox.state()["config"]["case_list_honours_user_id"] is False
    ours = sandbox.seed(labels=[MISSED], cases=[opened_by_omnidesk("+79165550003")])["cases"]
    others = [opened_by_omnidesk(f"+7916600{index:04d}") for index in range(130)]
    sandbox.seed(cases=others)  # newer: the list answers them first, a page and more of them
    (user,) = adapter.facts("+79165550003").found
    assert user.open_case_ids == (str(ours[0]),)
    run_call(adapter, missed("79165550003"))
    (case,) = cases_of(sandbox, "79165550003")
    assert len(case["messages"]) == 2


# --- 11: seed 003 п.13 (green only with a recording) and п.14 (no IVR cases) -------------------------


def test_missed_call_case_turns_handled_only_when_the_callback_has_a_recording(
    sandbox: OmnideskSandbox, adapter: OmnideskAdapter
) -> None:
    run_call(adapter, missed("79165550004"))
    call = callback("79165550004").model_copy(update={"recordings": []})  # the recording never came
    decision, _ = run_call(adapter, call)
    assert [log.recording_ids for log in decision.of(LogCall)] == [()]
    (update,) = decision.of(UpdateCase)
    assert (update.status, update.handled) == ("waiting", False)
    (case,) = cases_of(sandbox, "79165550004")
    assert (case["status"], case["label_titles"]) == ("waiting", [MISSED])


def test_the_ivr_responsible_setting_is_refused_for_omnidesk_tenants() -> None:
    document = SETTINGS.model_dump(mode="json")
    document["crm"] = {
        "kind": "omnidesk",
        "url": "https://demo.omnidesk.ru",
        "credentials": {"secret_name": "s"},
    }
    document["new_number"] = {
        case: {"create": ["contact"]} for case in ("answered_incoming", "missed_incoming", "outgoing")
    }
    document["responsibles"] = {"missed_in_ivr": {"enabled": True, "crm_user_id": "8000001"}}
    with pytest.raises(ValueError) as refused:  # InvalidSettings inside pydantic's ValidationError
        TenantSettings.model_validate(document)
    assert "responsibles.missed_in_ivr.enabled" in str(refused.value) and "seed 003, 14" in str(refused.value)
    document["responsibles"] = {"missed_in_ivr": {"enabled": False, "crm_user_id": "8000001"}}
    assert TenantSettings.model_validate(document).crm is not None


# --- 12: form-encoded bodies -----------------------------------------------------------------------------


def test_the_sandbox_takes_form_encoded_bodies_as_the_docs_and_the_ruby_gem_send_them(
    sandbox: OmnideskSandbox,
) -> None:
    label = sandbox.seed(labels=[MISSED])["labels"][0]
    with httpx.Client(
        base_url=sandbox.url, auth=(DEFAULT_STAFF_EMAIL, DEFAULT_API_KEY), trust_env=False
    ) as http:
        made = http.post(
            "/api/cases.json",
            data={
                "case[user_phone]": "+79165550005",
                "case[subject]": "Пропущенный звонок с +79165550005",
                "case[content]": "Пропущенный звонок",
                "case[channel]": "call",
                "case[labels][]": [str(label)],
            },
        )
        assert made.status_code == 201, made.text
        case_id = made.json()["case"]["case_id"]
        edited = http.put(f"/api/cases/{case_id}.json", data={"case[status]": "waiting"})
        assert edited.status_code == 200, edited.text
        noted = http.post(f"/api/cases/{case_id}/note.json", data={"note[content]": "Попытка звонка"})
        assert noted.status_code == 201, noted.text
    (case,) = cases_of(sandbox, "79165550005")
    assert (case["status"], case["channel"], case["label_titles"]) == ("waiting", "call", [MISSED])
    assert [m["content"] for m in case["messages"]] == ["Пропущенный звонок", "Попытка звонка"]
