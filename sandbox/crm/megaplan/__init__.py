"""Megaplan sandbox: the API v3 the bridge writes calls into, held in memory.

Tests start it on a free port (`MegaplanSandbox(port=0)`); the local stack starts it beside the others
(`python -m sandbox.crm.megaplan --port 3004` runs it alone). The integration user is
`integration@megaplan.test` / `sandbox-megaplan-password`; it acts as employee 8000001.

Each endpoint follows the account's `/api/v3/docs` (build r2510, dumped in borzov/megaplan-sdk
`docs/megaplan.md`) or, where real accounts differ, that SDK's README; what is still an assumption is
listed with its source and confidence in `docs/crm/megaplan.md`.

Megaplan endpoints (GET parameters are one URL-encoded JSON object after `?`; answers are
`{"meta": {"status", "errors", "pagination"}, "data"}`; `Authorization: Bearer …` or `access_token`
in the JSON query on everything but the token endpoint):

* `POST /api/v3/auth/access_token` — multipart/urlencoded `username`, `password`, `grant_type=password`,
  or `grant_type=refresh_token` + `refresh_token` (single use); 400 `invalid_grant` when refused.
* `GET /api/v3/employee[/{id}]` — employees; dismissed ones carry `fireDay` (8000004 by default).
* `GET /api/v3/program`, `GET /api/v3/program/{id}/states` — «Продажи» 9000001 (9100001 Новая заявка,
  9100002 Переговоры, 9100003 Сделка заключена: positive, 9100004 Отказ: negative), «Сервис» 9000002.
* `GET /api/v3/contractor` `{"q", "limit", "pageAfter"}` — full-text search over names, e-mails and
  phones; collection items carry only `contentType, id, name, contactInfo`.
  `GET /api/v3/contractorCompany/search` `{"q"}` — companies as BaseEntity `{contentType, id, name}`.
  `GET /api/v3/contractor/{id}/deals` — the client's deals.
* `POST /api/v3/contractorHuman|contractorCompany` (create), `GET|POST …/{id}` (read / update with the
  changed fields); `GET /api/v3/contractor/{id}`. `responsibles` are link entities (employees or
  clients); `contactInfo` items `{type, value}`; extra fields as `Category183CustomField…` keys;
  `userCreated` (an employee link) is kept when given, else the integration user.
* `GET /api/v3/{contractorHuman|contractorCompany}/extraFields` — that kind's extra fields
  `{contentType: StringField…, name, hrName}`; `POST …/extraFields/{id}` with a field entity creates one
  and answers the kind's fields.
* `GET|POST /api/v3/{contractor|contractorHuman|contractorCompany|deal}/{id}/comments` — `{content}`;
  on clients they answer 500, as real accounts do (config `contractor_comments: true` lets them work).
* `GET|POST /api/v3/deal` (filter `config.termGroup.terms` on contractor / program / state / manager,
  `value` one link entity or a list of them), `GET|POST /api/v3/deal/{id}`, `POST …/{id}/applyTransition`
  `{transition}`. A new deal starts in its program's first state whatever `state` says;
  `possibleTransitions` lead on; `result` is active / positive / negative.
* `GET /api/v3/callInfo` (paging only), `POST /api/v3/callInfo` (a call in progress: recorded in
  `widget_events`), `GET|POST /api/v3/callInfo/provider` `{providerId}` (the latest call with it, 404
  if none), `GET|POST /api/v3/callInfo/history` (an array of CallInfo, written finished, no widget
  event), `GET|POST /api/v3/callInfo/{id}` — 404 on an instance without telephony; `/callInfo/history`
  also 404 with config `call_history: false` (an older instance).

Control endpoints (no auth, never faulted): `GET /_sandbox/state`, `POST /_sandbox/reset`,
`GET|POST|DELETE /_sandbox/faults` (`{"status": 503, "count": 2}`, `{"status": 429}`,
`{"outage": true}`, `{"expire_tokens": true}`, `{"latency_ms": 800, "path": "api/v3/deal"}`),
`POST /_sandbox/seed` (`employees`, `programs`, `contractors` with `phones` / `responsible_ids`,
`deals` with `contractor_id` / `program_id` / `state_id`), `POST /_sandbox/config`
(`{"telephony": false}` = an instance without telephony objects, `call_history`, `contractor_comments`,
`token_ttl`), `POST /_sandbox/tokens`.
"""

from sandbox.crm.megaplan.server import DEFAULT_LOGIN, DEFAULT_PASSWORD, MegaplanFault, MegaplanSandbox

__all__ = ["DEFAULT_LOGIN", "DEFAULT_PASSWORD", "MegaplanFault", "MegaplanSandbox"]
