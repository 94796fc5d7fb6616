"""A signed notification over DynamoDB's 400 KB item limit, through the local stack: the HTTP front
built from template.yaml, DynamoDB Local, and moto's S3 for the raw body."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import httpx

from mango_bridge.mango.signature import sign
from tests.e2e.tenant_world import aws


def test_a_one_megabyte_signed_notification_is_accepted_kept_and_folded(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    """Spec p.5: «Поле json можно рассматривать как ассоциативный массив любой вложенности и размера
    (действуют только системные ограничения на размер всего POST-запроса)»."""
    entry_id = f"big-{time.time_ns()}=="
    data: dict[str, Any] = {
        "entry_id": entry_id,
        "call_id": "big-leg",
        "timestamp": int(time.time()),
        "seq": 1,
        "call_state": "Appeared",
        "location": "abonent",
        "from": {"number": "79161234567"},
        "to": {"extension": "101", "number": "sip:petrov@demo.mangosip.ru", "line_number": "74951234567"},
        "extra": {"items": [{"note": "я" * 1000, "nested": [{"x": "z" * 1000}]}] * 350},
    }
    json_text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    assert len(json_text.encode()) > 1_000_000
    key, salt = stack["mango"]["api_key"], stack["mango"]["api_salt"]
    response = httpx.post(
        f"{stack['ingest_url']}events/call",
        data={"vpbx_api_key": key, "sign": sign(key, json_text, salt), "json": json_text},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    tenant = stack["tenant_id"]
    detail = admin.get(f"/tenants/{tenant}/calls/{quote(entry_id, safe='')}", params={"events": "raw"})
    assert detail.status_code == 200, detail.text
    call = detail.json()
    assert [leg["extension"] for leg in call["legs"]] == ["101"]
    (event,) = call["events"]
    bucket, _, object_key = event["raw_s3_key"].removeprefix("s3://").partition("/")
    body = aws(stack, "s3").get_object(Bucket=bucket, Key=object_key)["Body"].read().decode()
    assert body == json_text
