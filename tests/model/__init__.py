"""Tests of rookery.model."""
