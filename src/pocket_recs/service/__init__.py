"""The training and serving service: HTTP API, web UI, background workers, job database."""

from pocket_recs.service.app import create_app
from pocket_recs.service.settings import ServiceSettings, load_settings

__all__ = ["ServiceSettings", "create_app", "load_settings"]
