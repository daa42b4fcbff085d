"""Pages: service levels (clocks)."""

urlpatterns: list = []
