"""Articles for tests, made through the actions (so the search index is in step)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from opsdesk.knowledge import actions
from opsdesk.knowledge.models import Article


def article(
    author: Any,
    organization: Any,
    title: str,
    *,
    body: str = "",
    summary: str = "",
    publish_as: Any = None,
    **fields: Any,
) -> Article:
    """A draft by `author`; published (submitted by the author, published by `publish_as`)
    when `publish_as` is given."""
    fields.setdefault("review_date", timezone.localdate() + timedelta(days=180))
    made = actions.create_article(
        acting_user=author,
        organization=organization,
        title=title,
        body=body,
        summary=summary,
        **fields,
    )
    if publish_as is not None:
        actions.submit_article(acting_user=author, article=made)
        actions.publish_article(acting_user=publish_as, article=made)
    made.refresh_from_db()
    return made
