"""Tests of rookery.cli."""
