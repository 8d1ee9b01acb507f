#!/usr/bin/env python
"""A Django site whose request threads share one AiClient. Offline unless OPENAI_API_KEY is set.

python manage.py runserver                         # http://127.0.0.1:8000/chat, /stream?q=hi
gunicorn -c gunicorn.conf.py chatsite.wsgi         # --preload, threads: see gunicorn.conf.py
python manage.py check
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
