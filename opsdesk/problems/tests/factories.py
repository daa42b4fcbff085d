"""Helpers for problem tests: incidents, problems and known errors made through actions."""

from __future__ import annotations

from typing import Any

from opsdesk.problems import actions
from opsdesk.problems.models import KnownError, Problem
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.models import Incident


def incident(cast: Any, org: Any = None, user: Any = None, **fields: Any) -> Incident:
    fields.setdefault("title", "Mail is down")
    return desk.create_incident(
        acting_user=user or (cast.agent if org in (None, cast.org_a) else cast.agent_b),
        organization=org or cast.org_a,
        **fields,
    )


def problem(cast: Any, org: Any = None, **fields: Any) -> Problem:
    org = org or cast.org_a
    fields.setdefault("title", "Mail outages")
    user = cast.agent if org == cast.org_a else cast.agent_b
    return actions.create_problem(acting_user=user, organization=org, **fields)


def known_error(cast: Any, org: Any = None, **fields: Any) -> KnownError:
    org = org or cast.org_a
    fields.setdefault("title", "VPN timeout after password change")
    fields.setdefault("workaround", "Reconnect after clearing saved credentials.")
    user = cast.agent if org == cast.org_a else cast.agent_b
    return actions.create_known_error(acting_user=user, organization=org, **fields)
