"""The registry of teams, projects and keys, changed at run time (admin API, CLI).

`store` keeps it in Redis; `view` is each process's in-memory copy, polled; `model` holds the
records and their validation; `secrets` makes and hashes keys."""
