"""Delivery: webhook signing, the retry schedule, and the sender."""
