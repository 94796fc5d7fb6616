"""BPMSoft sandbox: an instance with our own package (`integrations/bpmsoft-package/`), held in memory.

Tests start it on a free port (`BpmSoftSandbox(port=0)`); the local stack runs it on :3003
(`python -m sandbox.crm.bpmsoft --port 3003`).

BPMSoft endpoints:

* `POST /ServiceModel/AuthService.svc/Login` `{"UserName", "UserPassword"}` → HTTP 200 with
  `{"Code": 0, …}` and the cookies `BPMSESSIONID`, `.ASPXAUTH`, `BPMCSRF`, `BPMLOADER`, `UserName`; a
  wrong login is still HTTP 200, with `Code` 1, an empty `Message` and the reason in the `Exception`
  object (`{"Message", "Type", …}`). With `csrf_on_root` the `BPMCSRF` cookie
  comes only from a later `GET /`.
* OData 4 under `/0/odata` (`/odata` with `net8`): every request needs the session cookies and the
  `BPMCSRF` header (401 without a session, 403 without the token). `GET|POST /<Entity>`,
  `GET|PATCH|DELETE /<Entity>(<guid>)`, `GET /<Entity>/$count`, `GET /$metadata` (CSDL of what the
  instance has), `POST /$batch` (JSON format, ≤ 100 requests, `Prefer: continue-on-error`).
  Query options: `$filter` (eq ne gt ge lt le, and/or/not, contains/startswith/endswith, lookup paths),
  `$select`, `$expand` (with nested `$select`), `$orderby`, `$top`, `$skip`, `$count=true`.
  Entities: Contact, ContactCommunication, Account, AccountCommunication, Lead, Call, Case,
  SysAdminUnit, SysUserInRole, the lookups CallDirection, CommunicationType, LeadType, QualifyStatus,
  ContactType, AccountType, CaseStatus; the caption tables SysSchema, SysEntitySchemaColumn,
  VwSysEntitySchemaColumn; and our package's columns and objects UsrMcbCallStatus, UsrMcbCallAction,
  UsrMcbCallEntity (see `schema`).
* Errors: `{"error": {"code": "", "message": "…"}}`.

Control endpoints (no auth, never faulted):

* `GET /_sandbox/state` — config, every table by entity name, sessions, faults, request log.
* `POST /_sandbox/reset` — a fresh instance; `{"app_installed": false}` a bare one (no package),
  `{"prefix": "Vnd"}` the same columns under another prefix (found by caption), `{"captions": false}`
  without the caption tables, `{"drop_columns": {"Call": ["UsrMcbQualityScore"]}}` with some columns
  missing. Sessions survive.
* `GET|POST|DELETE /_sandbox/faults` — `{"status": 503, "count": 2}`, `{"status": 429}`,
  `{"latency_ms": 800, "path": "0/odata/Call"}`, `{"outage": true}`, `{"expire_sessions": true}`.
* `POST /_sandbox/seed` — `{"users": [{"id", "name", "active"}], "Contact": [...], "Account": [...],
  "Lead": [...]}` in OData shape; answers the new ids.
* `POST /_sandbox/config` — `{"csrf_on_root": true}`, `{"net8": true}`, `{"login", "password"}`.
"""

from sandbox.crm.bpmsoft.schema import (
    CALL_DIRECTIONS,
    CALL_STATUSES,
    LEAD_TYPES,
    QUALIFY_STATUSES,
    sandbox_id,
)
from sandbox.crm.bpmsoft.server import DEFAULT_LOGIN, DEFAULT_PASSWORD, BpmFault, BpmSoftSandbox
from sandbox.crm.bpmsoft.store import SUPERVISOR, search_number

__all__ = [
    "CALL_DIRECTIONS",
    "CALL_STATUSES",
    "DEFAULT_LOGIN",
    "DEFAULT_PASSWORD",
    "LEAD_TYPES",
    "QUALIFY_STATUSES",
    "SUPERVISOR",
    "BpmFault",
    "BpmSoftSandbox",
    "sandbox_id",
    "search_number",
]
