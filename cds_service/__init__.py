"""CDS Hooks service for dry-needling orders: the HTTP edge (Flask), settings and commands."""

from cds_service.app import create_app as create_app
from cds_service.settings import Settings as Settings
