from opsdesk.cmdb.views import urlpatterns as ci_urlpatterns
from opsdesk.cmdb.views_assets import urlpatterns as asset_urlpatterns

urlpatterns = [*ci_urlpatterns, *asset_urlpatterns]
