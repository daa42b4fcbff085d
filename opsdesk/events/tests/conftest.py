"""Fixtures shared by the event tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def immediate(settings):  # type: ignore[no-untyped-def]
    """Tasks run at once (a runbook's call, its verification) instead of being queued."""
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "periodic"],
        }
    }
    return settings
