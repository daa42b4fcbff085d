from django.urls import path

from opsdesk.changes import feed, views_calendar

urlpatterns = [
    path("", views_calendar.calendar_month, name="changes-calendar"),
    path("week/", views_calendar.calendar_week, name="changes-calendar-week"),
    path("windows/", views_calendar.windows_list, name="changes-calendar-windows"),
    path(
        "windows/<int:window_id>/", views_calendar.window_edit, name="changes-calendar-window-edit"
    ),
    path(
        "windows/<int:window_id>/retire/",
        views_calendar.window_retire,
        name="changes-calendar-window-retire",
    ),
    path("feed-token/", views_calendar.feed_token, name="changes-calendar-feed-token"),
    path("feed/<slug:slug>.ics", feed.calendar_feed, name="changes-calendar-feed"),
]
