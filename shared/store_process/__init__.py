"""The store process of the embedded topology (`trackhouse store`, which `trackhouse up` starts
and supervises) and the read channel between it and the API processes.

chDB allows one process per data directory, so one process owns the engine: it migrates, runs
the worker threads that insert, and answers every read of the API processes on a unix socket.
A read in the embedded topology travels:

    API process                                   store process (process.run_store)
    ───────────                                   ─────────────────────────────────
    route (query, export, GET by id, readyz)
      │  ReadEngine.rows / .stream
      ▼
    RemoteEngine (remote.py)
      │  one HTTP request: POST /rows | /stream,
      │  GET /ping; a Statement as JSON (wire.py)
      ▼
    unix socket <data_dir>/run/store.sock ──────▶ read app (socket_server.read_app)
      (a 0700 directory: only the service's user    │  runs what it is sent
       can reach it)                                ▼
                                                  ClientEngine (shared.query.engine)
                                                    │  read slots, caps
                                                    ▼
                                                  chDB
    rows / chunks / an error (wire.py) ◀───────── back the same way

Why here, in `shared/`, and not `cli/store/`: the API process imports the client half
(`remote.RemoteEngine`, from api/server.py) and `cli` is the top of the layers, imported by
nothing; the two halves and their wire format belong in one room, so the room is in `shared`.
`process.py` alone, the store process's entry point, imports `worker` (it runs the worker
threads): tests/unit/test_layers.py allows that one module and lets only `cli` import it. This
`__init__` imports nothing, so the API's import of `remote` never pulls in the worker.
"""
