"""HTTP API: the ROOK-compatible and Rookery routers, and the one place errors become responses."""
