"""Gunicorn settings for the `web` process of the Procfile; environment variables tune them."""

import os

# The Procfile passes --bind; this default serves `gunicorn -c gunicorn.conf.py 'web:create_app()'`.
bind = f"127.0.0.1:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))  # gthread: a slow client does not block a worker
timeout = 30
graceful_timeout = 20
keepalive = 5
# No access log: the app writes one structured JSON line per request (web/logging.py).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Each worker builds its own app and database engine after the fork: no shared connections.
preload_app = False
# No runtime control socket: it sits at one path per user, so two copies on a host would clash.
control_socket_disable = True
