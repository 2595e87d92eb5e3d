"""`python -m bench` (or `make bench`): run the whole bench in one sitting, print the table, write
bench-results/latest.md and bench-results/chart.png. `--quick` is a smoke run of every part."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.chart import draw
from bench.format import format_report
from bench.processes import REPO, BenchError
from bench.report import MIXES, ROWS, Report, check_targets
from bench.sections import SECTIONS, Plan, run


def parse_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole numbers separated by commas") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected positive whole numbers")
    return values


def parse_sections(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    return names


def parse_names(known: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        unknown = [n for n in names if n not in known]
        if not names or unknown:
            raise argparse.ArgumentTypeError(f"{text!r}: expected some of {', '.join(known)}")
        return tuple(n for n in known if n in names)  # in the tables' order
    return parse


def parse_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 1 or more")
    return value


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=int, default=None, help="seconds per cart-mix cell (default 5; 2 with --quick)")
    parser.add_argument("--rounds", type=parse_count, default=None,
                        help="interleaved rounds of the cart cells (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one round of 2 s cells, 1,000 and 10,000 files; "
                             "writes to bench-results/raw/quick/ unless --out is given")
    parser.add_argument("--shoppers", type=parse_list, help="the page mix's concurrent shoppers, e.g. 1,4,16,64 "
                                                            "(default 16, as the API mix)")
    parser.add_argument("--rows", "--backends", type=parse_names(ROWS),
                        help=f"servers to run the cart mixes against, e.g. file,express-file "
                             f"(default {','.join(ROWS)})")
    parser.add_argument("--mixes", type=parse_names(MIXES), help="api, page or both (default both)")
    parser.add_argument("--cores", type=parse_count, default=None,
                        help="N: every row runs in 1 process and in N (the shop's WORKERS, the peers' processes; "
                             "memory and the ceiling in 1 only); default: the machine's cores")
    parser.add_argument("--scale", type=parse_list, help="session files already stored, e.g. 1000,10000,100000")
    parser.add_argument("--sweep-files", type=int, help="expired files to sweep (default 100,000)")
    parser.add_argument("--only", type=parse_sections, help=f"run only these parts: {','.join(SECTIONS)}")
    parser.add_argument("--skip", type=parse_sections, default=(), help="skip these parts")
    parser.add_argument("--out", type=Path, help="where latest.md and chart.png go (default bench-results/)")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="measure nothing: redraw the table and chart from a saved results.json")
    parser.add_argument("--profile", choices=("misses", "all", "none"), default="misses",
                        help="py-spy profiles of the shop on file and redis, one process, one more API-mix cell "
                             "each: for the stores with a missed target (default), all, or none")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    return parser


def plan_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Plan, Path]:
    """What to run, from the arguments, and where its tables go."""
    plan = Plan()
    out = REPO / "bench-results"
    if args.quick:
        plan.seconds, plan.rounds, plan.scale = 2, 1, (1_000, 10_000)
        plan.sweep_files, plan.memory = 10_000, (10_000,)
        plan.floor_iterations, plan.floor_seconds = 200, 1
        out = plan.raw / "quick"
    if args.seconds is not None:
        if args.seconds < 1:
            parser.error("--seconds must be 1 or more")
        plan.seconds = args.seconds
    plan.rounds = args.rounds or plan.rounds
    plan.page_shoppers = args.shoppers or plan.page_shoppers
    plan.rows = args.rows or plan.rows
    plan.mixes = args.mixes or plan.mixes
    plan.cores = args.cores or plan.cores
    plan.scale = args.scale or plan.scale
    plan.sweep_files = args.sweep_files or plan.sweep_files
    plan.sections = tuple(s for s in (args.only or SECTIONS) if s not in args.skip)
    plan.profile = args.profile
    return plan, args.out or out


def main(argv: list[str] | None = None) -> int:
    parser = arguments()
    args = parser.parse_args(argv)
    plan, out = plan_of(args, parser)
    if args.render:
        report = Report.from_dict(json.loads(args.render.read_text()))
    else:
        try:
            report = run(plan)
        except BenchError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
        if args.quick:
            report.notes.append("quick run: short cells and fewer files, a smoke test rather than the targets' "
                                "conditions")
        # Next to the tables it made, so a partial run elsewhere leaves the full run's figures alone.
        saved = (plan.raw if out == REPO / "bench-results" else out) / "results.json"
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(report.to_dict(), indent=2))

    text = format_report(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(text)
    if report.rounds:
        draw(report, out / "chart.png")
    print(text)
    print(f"\nwrote {out / 'latest.md'}" + (f" and {out / 'chart.png'}" if report.rounds else ""), file=sys.stderr)
    if plan.failures:
        print(f"bench: {len(plan.failures)} part(s) failed; see the notes above", file=sys.stderr)
        return 1
    if args.strict and any(t.status == "missed" for t in check_targets(report)):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
