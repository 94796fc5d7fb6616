"""bridgectl: the operator's command line for Mango CRM Bridge (tenants, settings, calls)."""
