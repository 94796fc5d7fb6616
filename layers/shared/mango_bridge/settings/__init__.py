"""Tenant settings: pure pydantic models, validated before they can reach a running call."""
