"""Rookery: a self-hosted Withings health-data hub that speaks ROOK's data model."""

__version__ = "0.1.0"
