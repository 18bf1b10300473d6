"""Where an event waits between the API and a worker: RQ jobs on Redis (`jobs`), their JSON
serializer (`serializer`), the column-oriented payload (`columnar`), finding one event in
the queue (`locate`), and the embedded redis-server (`redis_server`)."""
