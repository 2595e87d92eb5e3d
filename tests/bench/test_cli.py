"""The bench's command line and its plan: what runs, in what order, how many steps."""
from __future__ import annotations

import argparse

import pytest

from bench.__main__ import parse_names, parse_workers
from bench.report import ROWS
from bench.sections import Plan


def test_rows_are_named_and_kept_in_the_tables_order():
    assert parse_names(ROWS)("ceiling, file,express-redis") == ("file", "express-redis", "ceiling")
    for bad in ("", "file,mongo"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_names(ROWS)(bad)


def test_workers_is_a_positive_whole_number():
    assert parse_workers("2") == 2
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_workers(bad)


def test_plan_counts_a_step_per_start_lost_update_and_cell():
    plan = Plan(rows=("file", "express-file"), page_shoppers=(1, 16), api_shoppers=(16,), scale=(1000,),
                memory=(10_000,), sections=("cart", "floor", "scale", "memory"))
    # per row: start + lost updates + 1 api cell + 2 page cells; scale: fill + cell; floor; memory
    assert plan.steps() == 2 * 5 + 2 + 1 + 1
    assert Plan(mixes=("api",), rows=("file",), sections=("cart",)).steps() == 3
