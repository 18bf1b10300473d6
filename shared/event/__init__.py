"""One event, from the JSON a client sent to the row the queue carries: validation
(`parse`), its caps (`limits`), and the server-side enrichment (`enrich`, `useragent`, `visitors`)."""
