"""Call-processing policy: a finished call, the tenant's settings and the CRM's facts → CRM intents.

Pure and deterministic: no AWS, no HTTP, no clock. See docs/policy.md for the rules and their order.

Names are imported on first use: functions that only need `policy.facts` (routing, ingest) must not
pay for loading the whole engine at cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Decision": "engine",
    "decide": "engine",
    "Capabilities": "facts",
    "CrmFacts": "facts",
    "CrmUser": "facts",
    "EntityRef": "facts",
    "FoundEntity": "facts",
    **{
        name: "intents"
        for name in (
            "CaseFiling",
            "CreateCompany",
            "CreateContact",
            "CreateDeal",
            "CreateLead",
            "CreateUnsortedLead",
            "Intent",
            "LogCall",
            "SaveCallTracking",
            "UpdateCase",
            "UpdateResponsible",
        )
    },
}

__all__ = [
    "Capabilities",
    "CaseFiling",
    "CreateCompany",
    "CreateContact",
    "CreateDeal",
    "CreateLead",
    "CreateUnsortedLead",
    "CrmFacts",
    "CrmUser",
    "Decision",
    "EntityRef",
    "FoundEntity",
    "Intent",
    "LogCall",
    "SaveCallTracking",
    "UpdateCase",
    "UpdateResponsible",
    "decide",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from mango_bridge.policy.engine import Decision, decide
    from mango_bridge.policy.facts import Capabilities, CrmFacts, CrmUser, EntityRef, FoundEntity
    from mango_bridge.policy.intents import (
        CaseFiling,
        CreateCompany,
        CreateContact,
        CreateDeal,
        CreateLead,
        CreateUnsortedLead,
        Intent,
        LogCall,
        SaveCallTracking,
        UpdateCase,
        UpdateResponsible,
    )
