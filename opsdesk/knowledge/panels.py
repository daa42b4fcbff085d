"""The "Related knowledge" panel of the incident page (registered in `KnowledgeConfig.ready`).

Suggests up to five published articles that best match the incident's title, CI and service
(any significant word; hits far below the best one, which matched only a stray word, are
left out), and lists those already "used to resolve" it, with buttons to link and unlink.
"""

from __future__ import annotations

from typing import Any

from opsdesk.core.permissions import Action, has_permission
from opsdesk.knowledge.models import Article
from opsdesk.knowledge.search import search
from opsdesk.knowledge.selectors import uses_for_incident
from opsdesk.servicedesk.models import Incident
from opsdesk.servicedesk.panels import Panel

SUGGESTIONS = 5
#: Suggestions ranked below this share of the best one matched only a stray word.
RELATIVE_CUTOFF = 0.35


def incident_query(incident: Incident) -> str:
    words = [incident.title or ""]
    if incident.ci_id is not None:
        words.append(incident.ci.name)
    if incident.service_id is not None:
        words.append(incident.service.name)
    return " ".join(words)


def related_knowledge(user: Any, incident: Incident) -> Panel | None:
    org = incident.organization_id
    if not has_permission(user, Article, Action.VIEW, org):
        return None
    uses = list(uses_for_incident(user, incident))
    used = {use.article_id for use in uses}
    candidates = Article.objects.live().filter(organization_id=org).exclude(pk__in=used)
    hits = search(
        user, incident_query(incident), queryset=candidates, limit=3 * SUGGESTIONS, any_word=True
    )
    if hits:
        best = hits[0].rank
        hits = [h for h in hits if h.rank >= best * RELATIVE_CUTOFF][:SUGGESTIONS]
    return Panel(
        title="Related knowledge",
        template="knowledge/_incident_panel.html",
        context={
            "incident": incident,
            "kb_hits": hits,
            "kb_uses": uses,
            "kb_can_link": has_permission(user, Incident, Action.CHANGE, org),
        },
        order=50,
    )
