"""The HTTP service: a FastAPI shell over :mod:`crossmargin.api` (``crossmargin serve``).

See ``docs/service.md`` for endpoints, payloads and errors.
"""

from __future__ import annotations

from crossmargin.service.app import create_app
from crossmargin.service.state import ServiceConfig, ServiceState

__all__ = ["ServiceConfig", "ServiceState", "create_app"]
