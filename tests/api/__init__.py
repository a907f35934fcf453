"""Tests of rookery.api."""
