"""Jobs: the durable queue in the database, the worker loop, and one handler per job kind."""
