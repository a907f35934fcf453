"""Withings layer tests."""
