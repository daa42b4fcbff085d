"""Background jobs of notifications. Tasks take ids, never objects."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from opsdesk.core import periodic


@task()
def send_notification_task(notification_id: int) -> str:
    """Send one outbox row (see `opsdesk.notify.delivery.send`)."""
    from opsdesk.notify.delivery import send

    return send(notification_id)


@task(queue_name="periodic")
def retry_notifications_task() -> dict[str, int]:
    """Retry failed notifications whose backoff has passed, up to the maximum attempts."""
    from opsdesk.notify.delivery import retry_due

    return retry_due()


periodic.register(retry_notifications_task, every=timedelta(minutes=1))
