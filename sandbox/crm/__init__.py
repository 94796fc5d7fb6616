"""CRM sandboxes: each speaks one CRM's public HTTP API from memory, for tests and the local stack.

They share the house rules of `sandbox.mango.api`: `start()`/`stop()` or `wsgi_app`, control endpoints
under `/_sandbox/` (`state`, `reset`, `faults`, `seed`), and faults described by `sandbox.faults`.
"""
