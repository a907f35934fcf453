"""Rookery's test suite; mirrors src/rookery/."""
