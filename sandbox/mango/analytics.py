"""Mango's after-the-call data in the sandbox: speech analytics, post-call ratings, call tracking."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.mango.api import MangoApiSandbox


def install(sandbox: MangoApiSandbox) -> None:
    """Register the methods and control endpoints this module serves."""
