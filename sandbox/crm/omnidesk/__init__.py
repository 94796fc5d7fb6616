"""Omnidesk sandbox: the helpdesk API the bridge files calls into as cases, held in memory.

Tests start it on a free port (`OmnideskSandbox(port=0)`); the local stack runs it on :3005
(`python -m sandbox.crm.omnidesk --port 3005`). State, faults and seeds are reachable from Python and
over HTTP under `/_sandbox/`.

Omnidesk endpoints (HTTP Basic `staff_email:api_key` on everything under `/api/`; bodies JSON or
form-encoded `case[subject]=…` (`forms.py`); bodies and answers wrapped as `{"case": {…}}`, `{"user": {…}}`, `{"message": {…}}`, `{"note": {…}}`, `{"label": {…}}`;
lists keyed `"0"`, `"1"`, … plus `total_count`, paged by `page` / `limit` ≤ 100):

* `GET|POST /api/users.json` — search by `user_phone`, `user_email`, `user_custom_id`, `user_full_name`
  (`^x^` exact, `^x` prefix, `x^` suffix, otherwise substring); a second user with the same phone,
  e-mail or custom id is refused (400 `user_already_exists`). `GET|PUT /api/users/{id}.json`.
* `GET|POST /api/cases.json` — create with `subject`, `content` (the user's first message), `channel`,
  `user_email` / `user_phone` / `user_custom_id` (the user is found, or created), `staff_id` (an active
  staff member), `status` (`open` / `waiting` / `closed`, default `open`), `labels` (existing label
  ids), `channel` (a code of `store.CHANNELS` or `cch<id>`, else 400 `channel_invalid`); list by
  `status[]`, `channel[]`, `staff_id`, `user_custom_id[]`, newest first — `user_id`, not a documented
  filter, is ignored unless `case_list_honours_user_id`.
  `GET|PUT /api/cases/{id}.json` — `status`, `staff_id`, `labels` (replaced), `subject`, `priority`.
* `GET|POST /api/cases/{id}/messages.json` — `content` with `staff_id` (a reply) or `user_id` (the
  case's user); `POST /api/cases/{id}/note.json` — `{"note": {"content", "staff_id"}}`, answered as
  `{"message": {…, "note": true}}`.
* `GET /api/staff.json`, `GET /api/staff/{id}.json` — staff with `active`; `GET|POST /api/labels.json`.

Every `/api/` answer carries `rate_limit_per_minute`, `api_calls_left` and `retry_after`; over the limit
→ 429, or 403 «rate limit exceeded» with `throttle_status: 403`. Errors are `{"status": "error", "error": <code>, "description": <words>}`.

Where each endpoint and payload comes from, and what is unconfirmed: docs/crm/omnidesk.md.

Control endpoints (no auth, no rate limit, never faulted):

* `GET /_sandbox/state` — config, staff, users, labels, cases (each with `label_titles` and its
  `messages`, notes included), faults, request log.
* `POST /_sandbox/reset` — a fresh account (only the built-in administrator).
* `GET|POST|DELETE /_sandbox/faults` — `{"status": 503, "count": 2}`, `{"status": 429}`,
  `{"latency_ms": 800, "path": "api/cases"}`, `{"outage": true}`, `{"outage": true, "for_seconds": 60}`.
* `POST /_sandbox/seed` — `{"staff": [...], "users": [...], "labels": [...], "cases": [...]}` (cases as
  `POST /api/cases.json` takes them, labels by id or title); answers the new ids.
* `POST /_sandbox/config` — `{"rate_limit_per_minute": null|int, "throttle_status": 429|403,
  "case_list_honours_user_id": bool}`; `POST /_sandbox/clock` —
  `{"advance": seconds}`.
"""

from sandbox.crm.omnidesk.server import OmnideskFault, OmnideskSandbox
from sandbox.crm.omnidesk.store import DEFAULT_API_KEY, DEFAULT_STAFF_EMAIL

__all__ = ["DEFAULT_API_KEY", "DEFAULT_STAFF_EMAIL", "OmnideskFault", "OmnideskSandbox"]
