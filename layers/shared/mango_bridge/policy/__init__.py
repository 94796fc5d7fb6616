"""Call-processing policy: a finished call, the tenant's settings and the CRM's facts → CRM intents.

Pure and deterministic: no AWS, no HTTP, no clock. See docs/policy.md for the rules and their order.
"""

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
