"""Where an event ends: ClickHouse. The client (`client`: a server URL or chDB), the column
list (`schema`) and the numbered migrations (`migrate`, `migrations/`)."""
