"""The metric definitions: exact unless the query opts into approximate (README: `approximate`)."""

from __future__ import annotations

import re

import pytest

from shared.query.metrics import METRICS, Metric, metric_sql

_DISTINCT = re.compile(r"\b(uniq\w*)\s*\(", re.IGNORECASE)
"""Every function of ClickHouse's uniq family: uniq, uniqIf, uniqCombined, uniqHLL12, uniqExact…"""
EXACT_DISTINCT = {"uniqExact", "uniqExactIf"}


@pytest.mark.parametrize("metric", METRICS.values(), ids=list(METRICS))
def test_no_exact_metric_counts_distinct_values_approximately(metric: Metric) -> None:
    sql = metric_sql(metric, approximate=False)
    assert sql == metric.sql
    assert "uniq(" not in sql
    assert set(_DISTINCT.findall(sql)) <= EXACT_DISTINCT, sql


def test_the_distinct_counts_are_distinct_counts() -> None:
    # visitors, sessions and conversion_rate count distinct ids; a plain count would not do.
    for name in ("visitors", "sessions", "conversion_rate", "bounce_rate"):
        assert set(_DISTINCT.findall(METRICS[name].sql)) & EXACT_DISTINCT, name


@pytest.mark.parametrize("metric", METRICS.values(), ids=list(METRICS))
def test_approximate_uses_no_exact_distinct_count(metric: Metric) -> None:
    sql = metric_sql(metric, approximate=True)
    assert not set(_DISTINCT.findall(sql)) & EXACT_DISTINCT, sql
