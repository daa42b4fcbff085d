"""Pages: business calendars."""

urlpatterns: list = []
