"""The coordinator's HTTP API."""

from aiwork.api.app import MAX_UPLOAD_BYTES, ServerSettings, create_app

__all__ = ["MAX_UPLOAD_BYTES", "ServerSettings", "create_app"]
