"""amoCRM sandbox: the account API v4 the bridge writes calls into, held in memory.

Tests start it on a free port (`AmoCrmSandbox(port=0)`); the local stack runs it on :3002
(`python -m sandbox.crm.amocrm --port 3002`). State, faults and seeds are reachable both from Python
and over HTTP under `/_sandbox/`.

amoCRM endpoints (`Authorization: Bearer …` on everything under `/api/v4/`):

* `POST /oauth2/access_token` — grant_type `authorization_code` | `refresh_token` (JSON or form);
  `GET /oauth?client_id=…&state=…` — consent, always granted: 302 to `redirect_uri?code=…&state=…&referer=…`.
* `GET /api/v4/account` (`with=amojo_id,uuid,version,is_api_filter_enabled,users_groups,task_types,
  datetime_settings`), `GET /api/v4/users[/{id}]` (users have `rights.is_active`; one is inactive).
* `GET /api/v4/leads/pipelines[/{id}[/statuses[/{id}]]]` — two pipelines, each with its unsorted stage
  (`type: 1`) and the shared 142/143 closing stages; an unknown pipeline is 404 "Pipeline not found".
* `GET|POST|PATCH /api/v4/{leads|contacts|companies}`, `GET|PATCH …/{id}`, `GET …/custom_fields`:
  `query`, `filter[id]`, `filter[responsible_user_id]`, `filter[name]`, leads also `filter[pipeline_id]`
  and `filter[statuses][N][pipeline_id|status_id]`; `with=leads|contacts`; `order[id|created_at|
  updated_at]`; `page`/`limit` (≤ 250). Bodies are arrays; each item's `request_id` is echoed (its
  position when absent). PHONE/EMAIL are `custom_fields_values` by `field_code` or `field_id` with
  `enum_code` or `enum_id` (WORK when neither). Leads link `_embedded.contacts[{id, is_main}]` and
  `_embedded.companies[{id}]`; contacts link `_embedded.companies`.
* `POST /api/v4/{entity}/link`, `POST …/{id}/link`, `GET …/{id}/links` — `{to_entity_id, to_entity_type,
  metadata: {is_main}}`.
* `POST /api/v4/leads/complex` — lead + at most one contact and one company, ≤ 50 per request; bare array
  answer `[{id, contact_id, company_id, request_id: [...], merged: false}]` (never merges);
  `_embedded.metadata` sends the lead to unsorted.
* `POST /api/v4/leads/unsorted/sip`, `GET /api/v4/leads/unsorted[/{uid}]`, `…/summary`,
  `POST …/{uid}/accept` `{user_id, status_id}`, `DELETE …/{uid}/decline`.
* `POST /api/v4/calls` — see `store` for how the entity is chosen; misses come back per item in
  `errors` (HTTP 400 when no call of the batch was stored). Unsorted rules: see `incoming`.
* `GET|POST /api/v4/{entity}/notes`, `GET|POST /api/v4/{entity}/{id}/notes`, `GET …/notes/{id}`.
* `GET|POST|PATCH /api/v4/tasks`, `GET|PATCH /api/v4/tasks/{id}`.

Control endpoints (no auth, no rate limit, never faulted):

* `GET /_sandbox/state` — account, config, users, pipelines, contacts, companies, leads (with links),
  notes, tasks, unsorted, calls (every `/calls` item and its outcome), tokens, faults, request log.
* `POST /_sandbox/reset` — fresh account; tokens survive unless `{"forget_tokens": true}`.
* `GET|POST|DELETE /_sandbox/faults` — `{"status": 503, "count": 2}`, `{"status": 429}`,
  `{"latency_ms": 800, "path": "api/v4/calls"}`, `{"outage": true}` (503 until cleared),
  `{"outage": true, "for_seconds": 3600}`, `{"expire_tokens": true}`; a list adds several.
* `POST /_sandbox/seed` — `{"preset": "known_client"}` and/or `users`, `companies`, `contacts`,
  `leads`, `tasks` (API shapes plus `id`, `phones`, `emails`, `company_id`, `contact_ids`); answers the
  new ids per kind.
* `POST /_sandbox/tokens` — a fresh access/refresh pair (`{"long_lived": true, "ttl_seconds": …}` for a
  long-lived token); `POST /_sandbox/authorization_code` — a code to exchange.
* `POST /_sandbox/config` — `{"rate_limit": null|int, "retry_after": null|int, "access_token_ttl": int}`;
  `POST /_sandbox/clock` — `{"advance": seconds}` moves the sandbox's time forward.
"""

from sandbox.crm.amocrm.oauth import TokenPair
from sandbox.crm.amocrm.seeding import KNOWN_CLIENT_PHONE, KNOWN_CLIENT_RESPONSIBLE_ID, KNOWN_COMPANY_PHONE
from sandbox.crm.amocrm.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    AmoCrmSandbox,
    AmoFault,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REDIRECT_URI",
    "KNOWN_CLIENT_PHONE",
    "KNOWN_CLIENT_RESPONSIBLE_ID",
    "KNOWN_COMPANY_PHONE",
    "AmoCrmSandbox",
    "AmoFault",
    "TokenPair",
]
