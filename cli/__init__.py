"""The `trackhouse` command: the operator's entry points (`up`, `api`, `worker`, `migrate`,
`status`, `failed`). It sits on top: it imports `api` and `worker`, nothing imports it."""
