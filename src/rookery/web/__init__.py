"""Pages: the connections page and the operator dashboard, rendered on the server."""
