import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.config.settings")
django_application = get_wsgi_application()

from opsdesk.events.fastpath import IntakeFastPath  # noqa: E402 - needs Django set up

#: Event intake requests take a lean path in front of Django (opsdesk.events.fastpath).
application = IntakeFastPath(django_application)
