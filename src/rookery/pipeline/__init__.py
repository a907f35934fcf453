"""The pipeline: from a Withings notification to stored, versioned, delivered ROOK documents."""
