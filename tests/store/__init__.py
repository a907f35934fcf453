"""Tests of rookery.store."""
