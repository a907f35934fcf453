"""Tests of rookery.delivery."""
