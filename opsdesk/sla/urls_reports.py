"""Pages: service levels (reports)."""

urlpatterns: list = []
