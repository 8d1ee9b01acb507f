"""gunicorn settings for the example: the app is loaded once before forking (--preload),
each worker serves many request threads, and each worker closes its client on exit.

No ailib client exists in the master: ``chatsite.ailib_client`` builds it on first use,
in the worker, and a client inherited through fork is dropped and rebuilt by the child.
"""

from chatsite.ailib_client import close_client

bind = "127.0.0.1:8000"
preload_app = True
workers = 2
worker_class = "gthread"
threads = 8


def worker_exit(server, worker):
    close_client()
