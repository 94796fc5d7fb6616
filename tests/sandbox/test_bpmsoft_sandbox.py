"""The BPMSoft sandbox speaks BPMSoft's wire: forms login, cookies and BPMCSRF, OData 4 query options,
$batch, $metadata, the error envelope, faults and the control endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.crm.bpmsoft import DEFAULT_LOGIN, DEFAULT_PASSWORD, LEAD_TYPES, BpmSoftSandbox, sandbox_id
from sandbox.crm.bpmsoft.query import QueryError, parse_filter

ODATA = "/0/odata"


@pytest.fixture
def bpm() -> Iterator[BpmSoftSandbox]:
    with BpmSoftSandbox(port=0) as sandbox:
        yield sandbox


def session(bpm: BpmSoftSandbox, password: str = DEFAULT_PASSWORD) -> httpx.Client:
    http = httpx.Client(base_url=bpm.url, trust_env=False)
    answer = http.post(
        "/ServiceModel/AuthService.svc/Login", json={"UserName": DEFAULT_LOGIN, "UserPassword": password}
    )
    assert answer.status_code == 200
    if answer.json()["Code"] == 0 and http.cookies.get("BPMCSRF"):
        http.headers["BPMCSRF"] = http.cookies["BPMCSRF"]
    http.headers["ForceUseSession"] = "true"
    return http


@pytest.fixture
def http(bpm: BpmSoftSandbox) -> Iterator[httpx.Client]:
    client = session(bpm)
    yield client
    client.close()


def values(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


def test_login_sets_bpmsoft_cookies_and_a_wrong_password_is_http_200_with_a_code(bpm: BpmSoftSandbox) -> None:
    good = session(bpm)
    assert {"BPMSESSIONID", ".ASPXAUTH", "BPMCSRF", "BPMLOADER", "UserName"} <= set(good.cookies.keys())
    bad = httpx.Client(base_url=bpm.url, trust_env=False)
    answer = bad.post(
        "/ServiceModel/AuthService.svc/Login", json={"UserName": DEFAULT_LOGIN, "UserPassword": "x"}
    )
    said = answer.json()
    assert answer.status_code == 200 and said["Code"] == 1 and "Неверное" in said["Exception"]["Message"]
    assert bad.get(f"{ODATA}/Contact").status_code == 401


def test_odata_needs_the_session_and_the_csrf_header(bpm: BpmSoftSandbox, http: httpx.Client) -> None:
    assert http.get(f"{ODATA}/Contact").status_code == 200
    del http.headers["BPMCSRF"]
    refused = http.get(f"{ODATA}/Contact")
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]


def test_csrf_handed_out_by_the_application_page(bpm: BpmSoftSandbox) -> None:
    bpm.configure(csrf_on_root=True)
    http = session(bpm)
    assert "BPMCSRF" not in http.cookies
    assert http.get(f"{ODATA}/Contact").status_code == 403
    http.get("/")
    http.headers["BPMCSRF"] = http.cookies["BPMCSRF"]
    assert http.get(f"{ODATA}/Contact").status_code == 200


def test_filter_select_expand_order_and_paging(bpm: BpmSoftSandbox, http: httpx.Client) -> None:
    account = bpm.seed(Account=[{"Name": "ООО Ромашка"}])["Account"][0]
    bpm.seed(
        Contact=[
            {"Name": "Иван O'Нил", "MobilePhone": "+7 916 123-45-67", "AccountId": account},
            {"Name": "Пётр", "Phone": "84951110000"},
            {"Name": "Сидор", "MobilePhone": "+79161234500"},
        ]
    )
    found = values(
        http.get(
            f"{ODATA}/ContactCommunication",
            params={
                "$filter": "startswith(SearchNumber,'7654321')",
                "$select": "Number",
                "$expand": "Contact($select=Name;$expand=Account($select=Name))",
            },
        )
    )
    assert found == [
        {"Number": "+7 916 123-45-67", "Contact": {"Name": "Иван O'Нил", "Account": {"Name": "ООО Ромашка"}}}
    ]
    quoted = values(
        http.get(f"{ODATA}/Contact", params={"$filter": "Name eq 'Иван O''Нил'", "$select": "Id"})
    )
    assert len(quoted) == 1
    by_lookup = values(
        http.get(f"{ODATA}/Contact", params={"$filter": f"Account/Id eq {account}", "$select": "Name"})
    )
    assert by_lookup == [{"Name": "Иван O'Нил"}]
    either = values(
        http.get(
            f"{ODATA}/Contact",
            params={
                "$filter": "(contains(Name,'Пётр') or contains(MobilePhone,'4500')) and not (Name eq 'Иван')",
                "$orderby": "Name desc",
                "$select": "Name",
            },
        )
    )
    assert [c["Name"] for c in either] == ["Сидор", "Пётр"]
    page = http.get(
        f"{ODATA}/Contact", params={"$top": "1", "$skip": "1", "$count": "true", "$orderby": "Name"}
    ).json()
    assert page["@odata.count"] == 4 and len(page["value"]) == 1  # three seeded and Supervisor
    assert http.get(f"{ODATA}/Contact/$count").text == "4"


def test_bad_queries_and_writes_answer_the_odata_error_envelope(
    bpm: BpmSoftSandbox, http: httpx.Client
) -> None:
    for params in ({"$filter": "Name eq"}, {"$filter": "Nope eq 1"}, {"$select": "Nope"}, {"$top": "-1"}):
        answer = http.get(f"{ODATA}/Contact", params=params)
        assert answer.status_code == 400 and answer.json()["error"]["message"]
    unknown = http.post(f"{ODATA}/Call", json={"Foo": 1})
    assert (
        unknown.status_code == 400
        and "The property 'Foo' does not exist" in unknown.json()["error"]["message"]
    )
    dangling = http.post(f"{ODATA}/Call", json={"ContactId": sandbox_id("nobody")})
    assert dangling.status_code == 400 and "violates the reference 'ContactId'" in dangling.text
    typed = http.post(f"{ODATA}/Call", json={"Duration": "ninety"})
    assert typed.status_code == 400
    assert http.get(f"{ODATA}/Contact({sandbox_id('nobody')})").status_code == 404
    assert http.get(f"{ODATA}/Nothing").status_code == 404
    with pytest.raises(QueryError):
        parse_filter("contains(Name,'a'")


def test_create_read_patch_delete_and_a_duplicate_id_conflicts(
    bpm: BpmSoftSandbox, http: httpx.Client
) -> None:
    row_id = sandbox_id("call-1")
    created = http.post(
        f"{ODATA}/Call",
        json={"Id": row_id, "CallerId": "+79161234567", "StartDate": "2026-03-05T11:40:00+03:00"},
    )
    assert created.status_code == 201 and created.json()["StartDate"] == "2026-03-05T08:40:00Z"
    assert created.json()["CreatedById"] == sandbox_id("contact:Supervisor")  # «Создал»: the API user
    assert http.post(f"{ODATA}/Call", json={"Id": row_id}).status_code == 409
    assert http.patch(f"{ODATA}/Call({row_id})", json={"Duration": 95}).status_code == 204
    assert http.get(f"{ODATA}/Call({row_id})", params={"$select": "Duration"}).json()["Duration"] == 95
    assert http.delete(f"{ODATA}/Call({row_id})").status_code == 204
    assert bpm.rows("Call") == []


def test_phone_columns_are_mirrored_into_communications_with_a_reversed_search_number(
    bpm: BpmSoftSandbox, http: httpx.Client
) -> None:
    contact = http.post(f"{ODATA}/Contact", json={"Name": "Иван", "MobilePhone": "+79161234567"}).json()
    (communication,) = [c for c in bpm.rows("ContactCommunication") if c["ContactId"] == contact["Id"]]
    assert communication["SearchNumber"] == "76543216197"
    http.patch(f"{ODATA}/Contact({contact['Id']})", json={"MobilePhone": "+79160000000"})
    (communication,) = [c for c in bpm.rows("ContactCommunication") if c["ContactId"] == contact["Id"]]
    assert communication["Number"] == "+79160000000"
    http.post(f"{ODATA}/Account", json={"Name": "ООО", "Phone": "74951234567"})
    assert [c["SearchNumber"] for c in bpm.rows("AccountCommunication")] == ["76543215947"]


def test_batch_runs_in_order_stops_at_the_first_failure_unless_asked_to_continue(
    bpm: BpmSoftSandbox, http: httpx.Client
) -> None:
    requests = [
        {"id": "a", "method": "POST", "url": "Contact", "body": {"Name": "Первый"}},
        {"id": "b", "method": "POST", "url": "Contact", "body": {"Bad": 1}},
        {"id": "c", "method": "GET", "url": f"{ODATA}/Contact?$filter=Name eq 'Первый'&$select=Name"},
    ]
    stopped = http.post(f"{ODATA}/$batch", json={"requests": requests}).json()["responses"]
    assert [r["status"] for r in stopped] == [201, 400]
    going = http.post(
        f"{ODATA}/$batch", json={"requests": requests}, headers={"Prefer": "continue-on-error"}
    ).json()
    assert [r["status"] for r in going["responses"]] == [201, 400, 200]
    assert len(going["responses"][2]["body"]["value"]) == 2
    too_many = http.post(f"{ODATA}/$batch", json={"requests": [requests[2]] * 101})
    assert too_many.status_code == 400


def test_metadata_lists_what_the_instance_has(bpm: BpmSoftSandbox, http: httpx.Client) -> None:
    full = http.get(f"{ODATA}/$metadata").text
    assert (
        '<EntitySet Name="Call"' in full
        and 'Name="UsrMcbQualityScore"' in full
        and 'Name="LeadTypeId"' in full
    )
    bpm.reset(drop_columns={"Call": ["UsrMcbQualityScore"]})
    call_type = (
        http.get(f"{ODATA}/$metadata").text.split('<EntityType Name="Call">')[1].split("</EntityType>")[0]
    )
    assert 'Name="UsrMcbQualityScore"' not in call_type and 'Name="UsrMcbTranscript"' in call_type
    assert http.post(f"{ODATA}/Call", json={"UsrMcbQualityScore": 5}).status_code == 400
    bpm.reset(app_installed=False)
    bare = http.get(f"{ODATA}/$metadata").text
    assert (
        "UsrMcbCallStatus" not in bare
        and "UsrMcbRecordLinks" not in bare
        and '<EntitySet Name="Call"' in bare
    )
    assert {row["Name"] for row in bpm.rows("LeadType")} == set(LEAD_TYPES.values())


def test_net8_serves_odata_without_the_zero(bpm: BpmSoftSandbox, http: httpx.Client) -> None:
    bpm.configure(net8=True)
    assert http.get("/odata/Contact").status_code == 200
    assert http.get(f"{ODATA}/Contact").status_code == 404


def test_faults_sessions_and_control_endpoints_over_http(bpm: BpmSoftSandbox, http: httpx.Client) -> None:
    control = httpx.Client(base_url=bpm.url, trust_env=False)
    control.post(
        "/_sandbox/faults", json=[{"status": 429, "path": "0/odata/Contact"}, {"status": 503}]
    ).raise_for_status()
    limited = http.get(f"{ODATA}/Contact")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert http.get(f"{ODATA}/Lead").status_code == 503 and http.get(f"{ODATA}/Lead").status_code == 200
    control.post("/_sandbox/faults", json={"outage": True})
    assert http.get(f"{ODATA}/Lead").status_code == 503 and http.get(f"{ODATA}/Lead").status_code == 503
    control.delete("/_sandbox/faults")
    control.post("/_sandbox/faults", json={"expire_sessions": True})
    assert http.get(f"{ODATA}/Lead").status_code == 401
    seeded = control.post("/_sandbox/seed", json={"users": [{"name": "Анна", "roles": ["Маркетинг"]}]}).json()
    assert seeded == {"users": [sandbox_id("contact:Анна")]}
    state = control.get("/_sandbox/state").json()
    assert any(u["Name"] == "Маркетинг" and u["SysAdminUnitTypeValue"] == 6 for u in state["SysAdminUnit"])
    assert [r["status"] for r in state["requests"]][:2] == [200, 429]
    assert control.post("/_sandbox/config", json={"password": "new-one"}).status_code == 200
    assert session(bpm, "new-one").get(f"{ODATA}/Lead").status_code == 200
    control.post("/_sandbox/reset", json={})
    assert control.get("/_sandbox/state").json()["requests"] == []
    assert control.get("/_sandbox/nothing").status_code == 404
