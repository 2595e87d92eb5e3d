"""The bench's report: medians over rounds, like-for-like pairs at equal cores, the floors, the
targets, the round trip through JSON."""

import pytest

from bench.parse import FloorResult, LoadResult, LostUpdateResult, MemoryResult, ReapResult, RoundTripResult, \
    StallResult
from bench.report import Report, Target, check_targets, floors, label, pair_ratios, process_counts, ratio, summarize


def cell(rps=1000.0, p50=1.0, p99=2.0, cpu=None, **more):
    return LoadResult(rps=rps, p50_ms=p50, p99_ms=p99, cpu_us=cpu, **more)


def full_report(api_file_1=1500.0, api_memory_1=2500.0, api_file_2=2000.0, flask_file_2=2000 / 1.5,
                flask_redis_2=1500 / 1.5, api_redis_2=750.0, page_file_2=1500.0, file_cpu=400.0, redis_cpu=280.0,
                sweep_s=1.0, sweep_under_load_s=2.0, stall_ms=10.0, p50_high=1.2, kept=50):
    """Every figure the targets read, each at its target's boundary by default (the express peers
    at 1,000 rps), in one round."""
    measured = {
        ("api", "file", 1, 16): cell(rps=api_file_1, cpu=file_cpu),
        ("api", "memory", 1, 16): cell(rps=api_memory_1, cpu=235.0),
        ("api", "redis", 1, 16): cell(rps=1000.0, cpu=redis_cpu),
        ("api", "express-file", 1, 16): cell(rps=1000.0),
        ("api", "file", 2, 16): cell(rps=api_file_2),
        ("api", "express-file", 2, 16): cell(rps=1000.0),
        ("api", "flask-file", 2, 16): cell(rps=flask_file_2),
        ("api", "redis", 2, 16): cell(rps=1500.0 if api_redis_2 == 750.0 else api_redis_2 * 2),
        ("api", "flask-redis", 2, 16): cell(rps=flask_redis_2),
        ("api", "express-redis", 2, 16): cell(rps=2000.0),
        ("page", "file", 2, 16): cell(rps=page_file_2),
        ("page", "express-file", 2, 16): cell(rps=1000.0),
    }
    return Report(
        rounds=[measured],
        scale={1000: cell(p50=1.0), 10000: cell(p50=1.1), 100000: cell(p50=p50_high)},
        sweep=ReapResult(files=100000, seconds=sweep_s, left=0),
        stall=StallResult(files=100000, sweep_seconds=sweep_under_load_s, removed=100000, max_stall_ms=stall_ms,
                          baseline_max_stall_ms=1.0),
        lost_updates={(row, n): LostUpdateResult(kept=kept, acknowledged=50)
                      for row in ("memory", "file", "redis") for n in process_counts(row, 2)},
        cores=2,
    )


def statuses(report):
    return {t.name: t.status for t in check_targets(report)}


def test_ratio():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0) is None
    assert ratio(None, 2.0) is None
    assert ratio(2.0, None) is None


def test_every_row_runs_in_one_process_and_in_n_but_memory_and_the_ceiling_in_one():
    assert process_counts("file", 2) == (1, 2)
    assert process_counts("express-redis", 4) == (1, 4)
    assert process_counts("memory", 2) == process_counts("ceiling", 2) == (1,)
    assert process_counts("file", 1) == (1,)


def test_the_issues_targets_are_the_ones_checked():
    assert list(statuses(full_report())) == [
        "CPU per request, shop, file (1 process, API mix)",
        "CPU per request, shop, redis (1 process, API mix)",
        "CPU per request, shop, file / shop, memory (the 400 µs budget over the issue's memory, 235 µs, on any machine)",
        "CPU per request, shop, redis / shop, memory (the 280 µs budget over the issue's memory, 235 µs, on any machine)",
        "api mix, 1 core: shop, file rps / express + session-file-store rps",
        "api mix, 1 core: shop, memory rps / express + session-file-store rps",
        "api mix, 2 cores: shop, file rps / express + session-file-store rps",
        "api mix, 2 cores: shop, file rps / Flask + Flask-Session, files rps",
        "api mix, 2 cores: shop, redis rps / Flask + Flask-Session, Redis rps",
        "api mix, 2 cores: shop, redis rps / express + connect-redis rps",
        "page mix, 2 cores: shop, file rps / express + session-file-store rps",
        "sweep of 100,000 expired files, alone",
        "sweep of 100,000 by the shop's sweeper under the page mix",
        "longest loop stall while a sweep runs under the page mix",
        "p50 at 100,000 stored / p50 at 1,000",
        "shop, memory (1 process): simultaneous adds kept, of 50",
        "shop, file (1 process): simultaneous adds kept, of 50",
        "shop, file (2 processes): simultaneous adds kept, of 50",
        "shop, redis (1 process): simultaneous adds kept, of 50",
        "shop, redis (2 processes): simultaneous adds kept, of 50",
    ]


def test_targets_hold_exactly_at_their_boundaries():
    report = full_report(stall_ms=50.0, p50_high=1.2)
    assert set(statuses(report).values()) == {"held"}


def test_targets_miss_just_past_their_boundaries():
    report = full_report(api_file_1=1499, api_memory_1=2499, api_file_2=1999, flask_file_2=2000 / 1.49,
                         flask_redis_2=1500 / 1.49, api_redis_2=749, page_file_2=1499, file_cpu=401, redis_cpu=281,
                         sweep_s=5.0, sweep_under_load_s=5.0, stall_ms=50.1, p50_high=1.21, kept=49)
    assert set(statuses(report).values()) == {"missed"}


def test_a_cell_is_the_median_of_its_rounds_and_a_round_with_faults_is_left_out():
    results = [cell(rps=900, cpu=500, status_4xx=10), cell(rps=1100, cpu=300), cell(rps=1000, cpu=400),
               cell(rps=5, cpu=9000, status_5xx=3, status_4xx=0)]
    found = summarize(results)
    assert (found.rps, found.cpu_us, found.rounds, found.failed) == (1000, 400, 3, 1)
    assert (found.refused, found.errors) == (10, 3)


def test_a_pairs_ratio_is_the_median_of_the_same_rounds_ratios():
    # The machine drifts: round 2 runs everything at half speed. Same-round ratios stay 2.0, 2.0
    # and 1.0: the median is 2.0, where the ratio of the medians (1,000 / 1,000) would say 1.0.
    rounds = [{("api", "file", 1, 16): cell(rps=2000, cpu=300), ("api", "express-file", 1, 16): cell(rps=1000, cpu=600)},
              {("api", "file", 1, 16): cell(rps=1000, cpu=300), ("api", "express-file", 1, 16): cell(rps=500, cpu=600)},
              {("api", "file", 1, 16): cell(rps=900, cpu=300), ("api", "express-file", 1, 16): cell(rps=1500, cpu=300)}]
    report = Report(rounds=rounds)
    pairs = {(p.mix, p.shop, p.peer, p.processes): p for p in pair_ratios(report)}
    pair = pairs[("api", "file", "express-file", 1)]
    assert (pair.rps, pair.cpu, pair.rounds) == (pytest.approx(2.0), pytest.approx(0.5), 3)


def test_pairs_only_compare_equal_process_counts():
    report = Report(rounds=[{("api", "file", 2, 16): cell(rps=3000), ("api", "express-file", 1, 16): cell(rps=1000),
                             ("api", "flask-file", 2, 16): cell(rps=1000)}])
    assert [(p.shop, p.peer, p.processes, p.rps) for p in pair_ratios(report)] == [
        ("file", "flask-file", 2, pytest.approx(3.0))]


def test_a_round_with_a_fault_on_either_side_is_left_out_of_the_ratio():
    rounds = [{("api", "file", 1, 16): cell(rps=2000), ("api", "express-file", 1, 16): cell(rps=1000)},
              {("api", "file", 1, 16): cell(rps=9000), ("api", "express-file", 1, 16): cell(rps=1000, socket_errors=4)}]
    pair = pair_ratios(Report(rounds=rounds))[0]
    assert (pair.rps, pair.rounds) == (pytest.approx(2.0), 1)


def test_targets_not_measured_when_figures_are_missing():
    assert set(statuses(Report()).values()) == {"not measured"}


def test_an_unavailable_row_says_why_in_its_targets():
    report = full_report()
    for key in [k for k in report.rounds[0] if k[1] == "redis"]:
        del report.rounds[0][key]
    for key in [k for k in report.lost_updates if k[0] == "redis"]:
        del report.lost_updates[key]
    report.unavailable["redis"] = "refused by the shop's configuration: SESSION_BACKEND='redis' is not valid"
    targets = {t.name: t for t in check_targets(report)}
    for name in ("api mix, 2 cores: shop, redis rps / express + connect-redis rps",
                 "shop, redis (2 processes): simultaneous adds kept, of 50"):
        assert targets[name].status == "not measured"
        assert "not available" in targets[name].why
    assert targets["CPU per request, shop, redis (1 process, API mix)"].why == "shop, redis not available"
    assert targets["api mix, 1 core: shop, file rps / express + session-file-store rps"].why == ""


def test_acknowledged_but_not_kept_adds_miss_even_when_fewer_were_acknowledged():
    report = full_report()
    report.lost_updates[("file", 2)] = LostUpdateResult(kept=48, acknowledged=48)
    assert statuses(report)["shop, file (2 processes): simultaneous adds kept, of 50"] == "missed"


def test_the_floor_is_memorys_cpu_plus_the_stores_own_calls():
    report = full_report(file_cpu=520.0, redis_cpu=300.0)
    report.floor = FloorResult(400.0, 250.0, 70.0, 10.0, 16, 1500.0, change_cpu_us=200.0, read_cpu_us=10.0)
    report.redis_floor = RoundTripResult(read_cpu_us=40.0, change_cpu_us=80.0, iterations=100)
    found = {f.row: f for f in floors(report)}
    assert (found["file"].floor_us, found["file"].gap_us) == (pytest.approx(235 + 105), pytest.approx(180))
    assert (found["redis"].floor_us, found["redis"].gap_us) == (pytest.approx(235 + 60), pytest.approx(5))
    assert floors(Report()) == []


def test_scale_target_names_the_counts_it_compares():
    report = Report(scale={1000: cell(p50=2.0), 10000: cell(p50=2.2)})
    target = [t for t in check_targets(report) if t.name.startswith("p50")][0]
    assert target.name == "p50 at 10,000 stored / p50 at 1,000"
    assert target.value == pytest.approx(1.1)
    assert target.status == "held"


def test_target_status_is_not_measured_without_a_value():
    assert Target("x", None, ">=", 1.0, "x").status == "not measured"


def test_label_says_how_many_processes_when_given():
    assert label("file", 2) == "shop, file (2 processes)"
    assert label("memory", 1) == "shop, memory (1 process)"
    assert label("express-file") == "express + session-file-store"


def test_report_round_trips_through_json():
    report = full_report()
    report.rounds.append({("api", "file", 1, 16): cell(rps=5, status_4xx=3, status_5xx=0, store_cpu_us=20.0)})
    report.peer_reap = ReapResult(files=100000, seconds=8.6, max_stall_ms=113, left=0)
    report.memory = [MemoryResult(sessions=10000, rss_delta_bytes=5 * 2**20)]
    report.floor = FloorResult(400.0, 250.0, 70.0, 100.0, 16, 1500.0, change_cpu_us=90.0, read_cpu_us=9.0)
    report.redis_floor = RoundTripResult(read_cpu_us=40.0, change_cpu_us=80.0, iterations=100)
    report.profiles = {"file": ([(0.5, "Tornado")], [(0.1, "write (x.py:1)")])}
    report.unavailable = {"redis": "refused"}
    report.machine = {"CPU": "test cpu", "cores": "2"}
    assert Report.from_dict(report.to_dict()) == report
