"""WSGI entry point for gunicorn:
``python -m gevent.monkey --module gunicorn -c python:cds_service.gunicorn_config cds_service.wsgi:app``."""

from cds_service.app import create_app
from cds_service.logs import configure_logging
from cds_service.settings import Settings

settings = Settings.from_env()
configure_logging(settings.log_level)
app = create_app(settings)
