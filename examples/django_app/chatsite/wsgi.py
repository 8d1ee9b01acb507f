"""WSGI entry point (gunicorn chatsite.wsgi). Importing it builds no ailib client."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
application = get_wsgi_application()
