"""Withings → ROOK: pure functions from parsed Withings responses to ROOK documents."""
