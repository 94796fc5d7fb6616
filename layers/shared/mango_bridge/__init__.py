"""Mango CRM Bridge: the domain and adapters shipped as the shared Lambda layer."""

__version__ = "0.1.0"
