"""Data lifecycle: retention (events older than a project's days) and erasure (one person's
events, wherever they are: the store, the queue, retries, dead letters, inserts in flight)."""
