"""Megaplan (API v3): clients, deals and calls for the post-call workflow."""

from mango_bridge.crm.megaplan.adapter import MegaplanAdapter
from mango_bridge.crm.megaplan.client import Credentials, MegaplanClient, normalise_base_url

__all__ = ["Credentials", "MegaplanAdapter", "MegaplanClient", "normalise_base_url"]
