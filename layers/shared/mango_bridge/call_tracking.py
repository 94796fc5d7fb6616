"""F23: who the caller was on the website, asked while the dynamic number is still bound to them.

A dynamic call-tracking number is lent to one visitor at a time and handed to the next one soon after
the call, so the visitor's data is fetched at the first notification that carries `dct` (type 1),
not after the call. It is kept on the call; the policy puts it only on what is created for a new
client.
"""

from __future__ import annotations

from mango_bridge.calls.visitor import Visitor
from mango_bridge.mango.errors import MangoError
from mango_bridge.store.calls import CallStore
from mango_bridge.store.tenants import TenantStore, mango_client_for

DYNAMIC = 1


def capture(
    tenant: str,
    entry_id: str,
    number: str,
    *,
    calls: CallStore | None = None,
    tenants: TenantStore | None = None,
) -> Visitor | None:
    """Fetch and keep the visitor behind `number` for this call; None when nobody is bound to it, the
    tenant does not save call-tracking data, or Mango cannot say (the call goes on without it)."""
    calls = calls or CallStore()
    if calls.has_visitor(tenant, entry_id):
        call = calls.get(tenant, entry_id)
        return call.visitor if call else None
    tenants = tenants or TenantStore()
    record = tenants.get(tenant)
    if record is None or not record.settings.call_tracking:
        return None
    mango = mango_client_for(tenant, tenants, record)
    if mango is None:
        return None
    try:
        data = mango.user_info_by_dct_number(number)
    except MangoError:
        return None
    visitor = Visitor.from_mango(number, data)
    if visitor is not None:
        calls.put_visitor(tenant, entry_id, visitor)
    return visitor
