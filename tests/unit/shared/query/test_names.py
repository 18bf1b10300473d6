"""Each list of names is written once: the metric, time grain and operator names are Literals
(for the type checker and the query body's schema), and the tables and tuples the code reads
at run time are derived from them, or held to them here. The CLI and the dashboard use the
names shared.query knows."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from cli import query as cli_query
from shared.query import sql
from shared.query.dimensions import TIME_GRAINS, Dimension, TimeGrain, parse_dimension
from shared.query.errors import QueryError
from shared.query.metrics import METRIC_NAMES, METRICS, MetricName
from shared.query.model import OPERATORS, Filter, Operator, Selection
from shared.query.ranges import Range

DASHBOARD_JS = Path(__file__).resolve().parents[4] / "api" / "static" / "dashboard.js"


def test_every_metric_name_has_one_definition_in_order() -> None:
    assert get_args(MetricName) == METRIC_NAMES
    assert tuple(METRICS) == METRIC_NAMES  # the order docs/query-api.md's table is generated in
    assert all(metric.name == name for name, metric in METRICS.items())


@pytest.mark.parametrize("grain", get_args(TimeGrain))
def test_every_time_grain_has_its_bucket_sql(grain: TimeGrain) -> None:
    assert grain in TIME_GRAINS
    assert parse_dimension(f"time:{grain}", "d").sql().startswith(("formatDateTime", "toString"))


def test_an_unknown_grain_names_the_known_ones() -> None:
    with pytest.raises(QueryError, match=re.escape(f"({', '.join(get_args(TimeGrain))})")):
        parse_dimension("time:decade", "d")


@pytest.mark.parametrize("operator", get_args(Operator))
def test_every_operator_has_its_sql(operator: Operator) -> None:
    assert operator in OPERATORS
    span = Range(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    flt = Filter(operator, Dimension("country", "column", column="country"), ("x",))
    where = sql.where(Selection(span, ZoneInfo("UTC"), (flt,), bots=False, projects=None), {})
    assert "country" in where


def test_the_cli_takes_the_operators_the_api_takes() -> None:
    parser = argparse.ArgumentParser()
    cli_query.add_arguments(parser)
    for operator in OPERATORS:
        body = cli_query.build_body(parser.parse_args(["--filter", f"country {operator} x"]))
        assert body["filters"] == [[operator, "country", ["x"]]]
    with pytest.raises(ValueError, match="expected"):
        cli_query.build_body(parser.parse_args(["--filter", "country like x"]))


def test_the_dashboard_asks_for_names_the_api_knows() -> None:
    page = DASHBOARD_JS.read_text()
    cards = page[page.index("const CARDS = [") : page.index("];", page.index("const CARDS = ["))]
    metrics = set(re.findall(r'\["(\w+)", "', cards)) | set(re.findall(r'metric: "(\w+)"', page))
    for names in re.findall(r"metrics: \[([^\]]*)\]", page):
        metrics |= set(re.findall(r'"(\w+)"', names))
    assert metrics and metrics <= set(METRIC_NAMES)
    dimensions = set(re.findall(r'dim: "([\w.:]+)"', page)) | set(re.findall(r'"(time:\w+)"', page))
    assert {"time:hour", "time:day"} <= dimensions
    for name in dimensions:
        parse_dimension(name, "dashboard")  # raises on a name the API does not know
    operators = set(re.findall(r'\["(\w+)", "project_id"', page))
    for call in re.findall(r"addFilter\(([^)]*)\)", page):
        operators |= set(re.findall(r'"(\w+)"', call))
    assert operators and operators <= set(OPERATORS)
