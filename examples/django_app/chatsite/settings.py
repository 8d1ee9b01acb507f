"""Settings of the example site. The ailib client is configured here, in ``AILIB``."""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "chatsite.urls"
WSGI_APPLICATION = "chatsite.wsgi.application"
INSTALLED_APPS: list = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict = {}
USE_TZ = True

# One client per process, built on first use by chatsite.ailib_client.get_client().
AILIB = {
    "PROVIDER": os.environ.get("AILIB_PROVIDER", "openai"),  # key from <PROVIDER>_API_KEY
    "MODEL": os.environ.get("AILIB_MODEL", "auto"),  # "auto": the provider's default chat model
    "TIMEOUT": 60.0,
    "MAX_RETRIES": 2,
    "DEADLINE": 90.0,  # one budget per call, retries included
    # Without the provider's key the site answers from an embedded MockProvider (offline).
    "OFFLINE": not os.environ.get(os.environ.get("AILIB_PROVIDER", "openai").upper() + "_API_KEY"),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"ailib": {"handlers": ["console"], "level": os.environ.get("AILIB_LOG_LEVEL", "WARNING")}},
}
