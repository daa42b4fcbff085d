"""Pages: service levels (definitions)."""

urlpatterns: list = []
