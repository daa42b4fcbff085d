"""Pages: service levels (chain)."""

urlpatterns: list = []
