"""`python -m cli …` is `trackhouse …` (how tests and `trackhouse worker --concurrency` spawn it)."""

from cli.main import main

raise SystemExit(main())
