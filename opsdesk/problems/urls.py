"""URL patterns are added by the app as its pages are built."""

urlpatterns: list = []
