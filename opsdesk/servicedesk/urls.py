from opsdesk.servicedesk.views import urlpatterns as agent_urlpatterns
from opsdesk.servicedesk.views_major import urlpatterns as major_urlpatterns

urlpatterns = [*agent_urlpatterns, *major_urlpatterns]
