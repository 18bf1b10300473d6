"""The read side: a query is validated into a typed value (`model`), its metrics come from one
module (`metrics`), its dimensions and filters from an allow-list (`dimensions`), its range from
`ranges`; `sql` turns it into parameterised SQL, `engine` is the one seam that runs it, and
`run` shapes the answer (zero-filled time buckets, totals)."""
