"""giaoban server: FastAPI app, live rooms, media, services and the data model."""

__version__ = "0.1.0"
