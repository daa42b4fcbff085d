"""Pages: vendors."""

urlpatterns: list = []
