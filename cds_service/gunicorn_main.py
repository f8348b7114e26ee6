"""Run gunicorn with gevent's cooperative sockets in place before anything else is imported.

    python -m cds_service.gunicorn_main -c python:cds_service.gunicorn_config cds_service.wsgi:app

The default worker class is gevent (see ``gunicorn_config``), and the app is preloaded in the master: the
standard library must be patched before gunicorn, requests, SQLAlchemy or the app create a socket, lock or
SSL context, or a lock taken before the patch could block a whole worker. ``dn-cds serve`` and the
Dockerfile start gunicorn through this module.
"""

from gevent import monkey

monkey.patch_all()

from gunicorn.app.wsgiapp import run  # noqa: E402 - must come after the patch

if __name__ == "__main__":
    run()
