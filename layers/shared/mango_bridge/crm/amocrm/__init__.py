"""amoCRM (API v4) behind the CRM port: `AmoCrmAdapter` over an `AmoCrmClient` and a `TokenStore`."""

from mango_bridge.crm.amocrm.adapter import AmoCrmAdapter, bridge_link
from mango_bridge.crm.amocrm.client import AmoCrmClient, normalise_base_url
from mango_bridge.crm.amocrm.limiter import RateLimiter, limiter_for
from mango_bridge.crm.amocrm.tokens import (
    MemoryTokenStore,
    SecretsManagerTokenStore,
    Tokens,
    TokenStore,
    exchange_code,
)

__all__ = [
    "AmoCrmAdapter",
    "AmoCrmClient",
    "MemoryTokenStore",
    "RateLimiter",
    "SecretsManagerTokenStore",
    "TokenStore",
    "Tokens",
    "bridge_link",
    "exchange_code",
    "limiter_for",
    "normalise_base_url",
]
