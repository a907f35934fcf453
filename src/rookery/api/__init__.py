"""HTTP API: ROOK-compatible and Rookery's own routers, and the one place errors become responses."""
