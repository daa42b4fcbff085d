"""The article workflow, declared as data (see `opsdesk.core.workflow`).

draft -> review -> published -> retired; a reviewer sends a draft back ("request changes");
a published article is revised into a new draft version while the published version stays
readable (`Article.published_version`) until the new one is published.
"""

from __future__ import annotations

from opsdesk.core.workflow import Workflow, t
from opsdesk.knowledge.choices import ArticleState as S

ARTICLE = Workflow(
    name="article",
    states=tuple(S.values),
    initial=S.DRAFT,
    final=frozenset({S.RETIRED}),
    labels=dict(S.choices),
    transitions=(
        t("submit", {S.DRAFT}, S.REVIEW, label="Submit for review"),
        t("request_changes", {S.REVIEW}, S.DRAFT, label="Request changes", requires=["reason"]),
        t("publish", {S.REVIEW}, S.PUBLISHED, label="Publish", requires=["owner", "review_date"]),
        t("revise", {S.PUBLISHED}, S.DRAFT, label="Revise"),
        t("retire", {S.DRAFT, S.REVIEW, S.PUBLISHED}, S.RETIRED, label="Retire"),
    ),
)

#: Transitions that decide what readers see: knowledge managers (managers, admins).
REVIEWER_TRANSITIONS = frozenset({"request_changes", "publish", "retire"})
