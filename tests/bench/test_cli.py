"""The bench's command line and its plan: what runs, in what order, how many steps."""
from __future__ import annotations

import argparse

import pytest

from bench.__main__ import parse_count, parse_names
from bench.report import ROWS
from bench.sections import Plan


def test_rows_are_named_and_kept_in_the_tables_order():
    assert parse_names(ROWS)("ceiling, file,express-redis") == ("file", "express-redis", "ceiling")
    for bad in ("", "file,mongo"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_names(ROWS)(bad)


def test_cores_and_rounds_are_positive_whole_numbers():
    assert parse_count("2") == 2
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_count(bad)


def test_every_row_runs_at_1_and_n_processes_and_the_page_mix_at_n_only():
    plan = Plan(rows=("memory", "file", "express-file"), cores=2)
    assert plan.servers() == [("memory", 1), ("file", 1), ("file", 2), ("express-file", 1), ("express-file", 2)]
    assert plan.cells() == [("api", "memory", 1, 16), ("api", "file", 1, 16), ("api", "file", 2, 16),
                            ("api", "express-file", 1, 16), ("api", "express-file", 2, 16),
                            ("page", "memory", 1, 16), ("page", "file", 2, 16), ("page", "express-file", 2, 16)]


def test_plan_counts_a_step_per_start_lost_update_cell_of_every_round_and_profile():
    plan = Plan(rows=("file", "express-file"), cores=2, rounds=3, page_shoppers=(1, 16), scale=(1000,),
                memory=(10_000,), sections=("cart", "floor", "scale", "memory"))
    # 4 servers: start + lost updates; a round: 4 api cells + 2 x 2 page cells; a profile of file;
    # floor: file and redis; scale: fill + cell; memory
    assert plan.steps() == 4 * 2 + 3 * 8 + 1 + 2 + 2 + 1
    assert Plan(mixes=("api",), rows=("file",), cores=1, rounds=1, profile="none", sections=("cart",)).steps() == 3
