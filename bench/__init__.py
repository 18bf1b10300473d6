"""The benchmark harness: `python -m bench.run` (or `make bench`). See bench/run.py."""
