"""ROOK documents: the typed wire model of every structure Rookery delivers. Pure: no I/O."""
