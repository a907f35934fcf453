"""Withings: response types and code tables (pure), and the async API client (I/O)."""
