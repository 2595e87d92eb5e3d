"""The bench's parts, run in one sitting: the cart mixes against every row, the scale, the sweeps,
the memory store's footprint and the system-call floor. Each fills its part of the Report; a part
that breaks is a failure in the notes, and the rest still runs. Raw outputs land in plan.raw."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from bench.machine import machine_info
from bench.parse import (
    LoadResult,
    LostUpdateResult,
    ParseError,
    parse_floor_result,
    parse_load_result,
    parse_lost_updates,
    parse_memory_result,
    parse_peer_reap,
    parse_sweep_result,
    summarize_error_answers,
)
from bench.peers import NEEDS_REDIS, check_wrk, ensure_express, find_peers, start_row
from bench.processes import REPO, BenchError, RedisServer, Service, Unavailable, run_logged, scratch_dir
from bench.report import LABELS, LOST_UPDATE_REQUESTS, MIXES, ROWS, SHOP_ROWS, TARGET_SHOPPERS, Report

SECTIONS = ("cart", "floor", "scale", "sweep", "stall", "memory", "reap")
# The GET half of each mix. The ceiling has no /api/cart; its /cart is already a bare list, the
# work the API mix asks of the others, so it answers that instead (the report says so).
CART_PATHS = {"api": "/api/cart", "page": "/cart"}
CEILING_API_PATH = "/cart"


@dataclass
class Plan:
    seconds: int = 8
    warmup_seconds: int = 1
    mixes: tuple[str, ...] = MIXES
    page_shoppers: tuple[int, ...] = (1, 4, 16, 64)   # the page mix's sweep of shoppers
    api_shoppers: tuple[int, ...] = (TARGET_SHOPPERS,)
    rows: tuple[str, ...] = ROWS
    workers: int | None = None                         # WORKERS for the shop; None: the shop's default
    scale: tuple[int, ...] = (1_000, 10_000, 100_000)
    sweep_files: int = 100_000
    memory: tuple[int, ...] = (10_000, 50_000)
    floor_iterations: int = 2_000
    floor_seconds: int = 5
    sections: tuple[str, ...] = SECTIONS
    raw: Path = REPO / "bench-results" / "raw"
    python: str = sys.executable
    profile: bool = False
    failures: list[str] = field(default_factory=list)

    def shoppers(self, mix: str) -> tuple[int, ...]:
        return self.api_shoppers if mix == "api" else self.page_shoppers

    def cells_per_row(self) -> int:
        return sum(len(self.shoppers(mix)) for mix in self.mixes)

    def steps(self) -> int:
        count = 0
        if "cart" in self.sections:
            count += len(self.rows) * (2 + self.cells_per_row())
        if "scale" in self.sections:
            count += 2 * len(self.scale)
        count += sum(1 for s in ("floor", "sweep", "stall", "reap") if s in self.sections)
        if "memory" in self.sections:
            count += len(self.memory)
        return count


class Progress:
    """One line per step on stderr: `[ 3/27  0:42] what ... result`."""

    def __init__(self, total: int, stream=sys.stderr) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.stream = stream

    def log(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[list[str]]:
        """Yields a list; append a one-line summary of the result to it."""
        self.done += 1
        elapsed = int(time.monotonic() - self.started)
        print(f"[{self.done:>2}/{self.total} {elapsed // 60}:{elapsed % 60:02d}] {text} ... ",
              end="", file=self.stream, flush=True)
        summary: list[str] = []
        try:
            yield summary
        except Unavailable as error:
            print(f"not available: {error}", file=self.stream, flush=True)
            raise
        except BaseException as error:
            print(f"FAILED: {error}", file=self.stream, flush=True)
            raise
        print(summary[0] if summary else "done", file=self.stream, flush=True)

    def skip(self, steps: int) -> None:
        self.done += steps


def fail(plan: Plan, report: Report, message: str) -> None:
    plan.failures.append(message)
    report.notes.append(f"FAILED: {message}")


def describe(result: LoadResult) -> str:
    from bench.format import fmt_ms, fmt_rps

    errors = f", {result.errors} errors" if result.errors else ""
    return f"{fmt_rps(result.rps)} rps, p50 {fmt_ms(result.p50_ms)} ms, p99 {fmt_ms(result.p99_ms)} ms{errors}"


# ------------------------------------------------------------------------------------- load

def cart_mix(peers: Path, base_url: str, shoppers: int, seconds: int, log: Path, cart_path: str = "/cart") -> LoadResult:
    """The peers' own bench_cart.sh (make_cookies.py + wrk + cart_mix.lua); its RESULT line."""
    out = run_logged(["sh", str(peers / "bench_cart.sh"), base_url, str(shoppers), str(seconds)], log,
                     timeout=seconds + 180, env=dict(os.environ, CART_PATH=cart_path))
    try:
        return parse_load_result(out)
    except ParseError as error:
        raise BenchError(f"{error} (see {log})") from None


def py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy==0.4.3")
    return found


@contextlib.contextmanager
def profiled(plan: Plan, row: str, service: Service, shoppers: int, name: str) -> Iterator[None]:
    """With --profile, a py-spy flame graph of the shop (all its worker processes) over a 16-shopper cell."""
    if not (plan.profile and row in SHOP_ROWS and shoppers == TARGET_SHOPPERS):
        yield
        return
    spy = subprocess.Popen([py_spy(), "record", "--pid", str(service.process.pid), "--subprocesses",
                            "--nonblocking", "--rate", "100", "--duration", str(max(1, plan.seconds - 1)),
                            "-o", str(plan.raw / f"profile-{name}.svg")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def measure(plan: Plan, peers: Path, row: str, service: Service, shoppers: int, log: Path, report: Report,
            cart_path: str = "/cart") -> LoadResult:
    """One cell. A server that something outside the bench stopped meanwhile (the machine is
    shared) is started again and the cell measured once more; the note says so."""
    for attempt in (1, 2):
        if not service.alive:
            service.start()
            cart_mix(peers, service.base_url, TARGET_SHOPPERS, plan.warmup_seconds, log.with_suffix(".warmup.txt"),
                     cart_path)
        try:
            with profiled(plan, row, service, shoppers, log.stem):
                result = cart_mix(peers, service.base_url, shoppers, plan.seconds, log, cart_path)
        except BenchError:
            if service.alive or attempt == 2:
                raise
            result = None
        if service.alive:
            return result
        if attempt == 2:
            raise BenchError(service.died())
        report.notes.append(f"{service.died()}; restarted, and the {shoppers}-shopper cell measured again")
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------- the cart mixes

def run_cart(plan: Plan, peers: Path, progress: Progress, report: Report) -> None:
    """Every row: start it, warm it up, count lost updates, then every cell of every mix."""
    with contextlib.ExitStack() as stack:
        redis = None
        if any(row in NEEDS_REDIS for row in plan.rows):
            try:
                redis = stack.enter_context(RedisServer(plan.raw / "redis-server.log"))
            except Unavailable as error:
                for row in (r for r in plan.rows if r in NEEDS_REDIS):
                    report.unavailable[row] = str(error)
            except BenchError as error:
                fail(plan, report, f"the bench's redis-server: {error}")
        for row in plan.rows:
            if row in report.unavailable:
                progress.skip(2 + plan.cells_per_row())
                continue
            _run_row(plan, peers, progress, report, row, redis)
    if "ceiling" in plan.rows and "api" in plan.mixes:
        report.notes.append(f"{LABELS['ceiling']}: `tornado_ceiling.py` has no `/api/cart`; in the API mix it "
                            f"answers `GET {CEILING_API_PATH}`, which for it is already a bare list, the same work")


def _run_row(plan: Plan, peers: Path, progress: Progress, report: Report, row: str,
             redis: RedisServer | None) -> None:
    with scratch_dir(f"bench-{row}-") as scratch, contextlib.ExitStack() as stack:
        first_path = _cart_path(plan.mixes[0], row)
        try:
            with progress.step(f"{LABELS[row]}: start, warm up {plan.warmup_seconds} s") as out:
                service = stack.enter_context(start_row(
                    row, python=plan.python, raw=plan.raw, peers=peers, scratch=scratch,
                    log_name=f"server-{row}", workers=plan.workers, redis=redis))
                cart_mix(peers, service.base_url, TARGET_SHOPPERS, plan.warmup_seconds,
                         plan.raw / f"cart-{row}-warmup.txt", first_path)
                if row in SHOP_ROWS:
                    report.processes[row] = service.processes()
                out.append(f"ready on {service.base_url}"
                           + (f", {report.processes[row]} process(es)" if row in SHOP_ROWS else ""))
            with contextlib.suppress(BenchError, ParseError), \
                    progress.step(f"lost updates: {LABELS[row]}, {LOST_UPDATE_REQUESTS} simultaneous adds") as out:
                report.lost_updates[row] = lost_updates(plan, peers, service, row, report)
                out.append(f"kept {report.lost_updates[row].kept} of {report.lost_updates[row].acknowledged}")
        except Unavailable as error:
            report.unavailable[row] = str(error)
            progress.skip(1 + plan.cells_per_row())
            return
        except (BenchError, OSError) as error:
            fail(plan, report, f"{LABELS[row]}: {error}")
            progress.skip(1 + plan.cells_per_row())
            return
        for mix in plan.mixes:
            path = _cart_path(mix, row)
            for shoppers in plan.shoppers(mix):
                with contextlib.suppress(BenchError), \
                        progress.step(f"{mix} mix: {LABELS[row]}, {shoppers} shoppers, {plan.seconds} s") as out:
                    try:
                        result = measure(plan, peers, row, service, shoppers,
                                         plan.raw / f"{mix}-{row}-{shoppers}.txt", report, path)
                    except BenchError as error:
                        fail(plan, report, f"{mix} mix, {LABELS[row]}, {shoppers} shoppers: {error}")
                        raise
                    report.cart[(mix, row, shoppers)] = result
                    out.append(describe(result))
        if row in SHOP_ROWS and any(r.non2xx3xx for (_, b, _), r in report.cart.items() if b == row):
            service.stop()
            answers = summarize_error_answers(service.log.read_text(errors="replace"))
            why = ("; that is the shop refusing to hold more than 99 of one product: the cart mix adds 1 of "
                   "one of 20 products per POST, so one session passes 20 x 99 = 1,980 adds within a cell "
                   "when the shop is fast (the peers have no such cap)"
                   if answers.startswith("400 POST /cart/add x") and answers.count(" x") == 1 else "")
            report.notes.append(f"{LABELS[row]}: error answers in its log: {answers or 'none logged'}{why}")


def _cart_path(mix: str, row: str) -> str:
    return CEILING_API_PATH if (mix == "api" and row == "ceiling") else CART_PATHS[mix]


def lost_updates(plan: Plan, peers: Path, service: Service, row: str, report: Report) -> LostUpdateResult:
    try:
        stdout = run_logged([plan.python, str(peers / "lost_updates.py"), service.base_url, str(LOST_UPDATE_REQUESTS)],
                            plan.raw / f"lost-updates-{row}.txt", timeout=120)
        return parse_lost_updates(stdout)
    except (BenchError, ParseError) as error:
        fail(plan, report, f"lost updates, {LABELS[row]}: {error}")
        raise


# ------------------------------------------------------------------------------------- the other parts

def run_floor(plan: Plan, progress: Progress, report: Report) -> None:
    with scratch_dir("bench-floor-") as scratch:
        try:
            with progress.step(f"floor: the file store's system calls alone, {plan.floor_iterations:,} "
                               f"iterations, then {TARGET_SHOPPERS} threads for {plan.floor_seconds} s") as out:
                stdout = run_logged([plan.python, "-m", "bench.floor_probe", str(scratch), str(plan.floor_iterations),
                                     str(TARGET_SHOPPERS), str(plan.floor_seconds)], plan.raw / "floor.txt", timeout=600)
                report.floor = parse_floor_result(stdout)
                out.append(f"change {report.floor.change_us:,.0f} µs, read {report.floor.read_us:,.0f} µs, "
                           f"API-mix floor {report.floor.parallel_rps:,.0f} rps")
        except (BenchError, ParseError, OSError) as error:
            fail(plan, report, f"floor: {error}")


def run_scale(plan: Plan, peers: Path, progress: Progress, report: Report, fmt) -> None:
    from bench.fill import fill

    for count in plan.scale:
        with scratch_dir(f"bench-scale-{count}-") as scratch:
            sessions = scratch / "sessions"
            try:
                with progress.step(f"scale: write {count:,} session files (90% expired)") as out:
                    started = time.monotonic()
                    fill(sessions, fmt, count, expired_fraction=0.9)
                    out.append(f"{time.monotonic() - started:.1f} s")
                with progress.step(f"scale: shop, file, {count:,} stored, {TARGET_SHOPPERS} shoppers, "
                                   f"{plan.seconds} s") as out:
                    with start_row("file", python=plan.python, raw=plan.raw, peers=peers, scratch=scratch,
                                   log_name=f"server-scale-{count}", workers=plan.workers,
                                   session_dir=sessions) as service:
                        cart_mix(peers, service.base_url, TARGET_SHOPPERS, plan.warmup_seconds,
                                 plan.raw / f"scale-{count}-warmup.txt")
                        result = measure(plan, peers, "file", service, TARGET_SHOPPERS,
                                         plan.raw / f"scale-{count}.txt", report)
                    report.scale[count] = result
                    out.append(describe(result))
            except (BenchError, OSError) as error:
                fail(plan, report, f"scale at {count:,} files: {error}")


def run_sweep(plan: Plan, progress: Progress, report: Report) -> None:
    with scratch_dir("bench-sweep-") as scratch:
        try:
            with progress.step(f"sweep: FileStore.sweep_expired() over {plan.sweep_files:,} expired files") as out:
                stdout = run_logged([plan.python, "-m", "bench.sweep_probe", str(scratch / "sessions"),
                                     str(plan.sweep_files)], plan.raw / "sweep.txt", timeout=900)
                report.sweep = parse_sweep_result(stdout)
                out.append(f"{report.sweep.seconds:.2f} s, {report.sweep.left} left")
        except (BenchError, ParseError, OSError) as error:
            fail(plan, report, f"sweep: {error}")


def run_stall(plan: Plan, peers: Path, progress: Progress, report: Report, fmt) -> None:
    """The shop's app in bench.stall_probe, the page mix against it, then the sweep its Sweeper
    runs (`store.sweep_expired()`): how long the sweep takes and how late the loop runs meanwhile."""
    from bench.fill import fill
    from bench.stall import stall

    with scratch_dir("bench-stall-") as scratch:
        try:
            with progress.step(f"stall: the shop's sweep of {plan.sweep_files:,} expired files "
                               f"under the page mix ({TARGET_SHOPPERS} shoppers)") as out:
                fill(scratch / "sessions", fmt, plan.sweep_files, expired_fraction=1.0)
                report.stall = stall(plan, peers, scratch, "sweep")
                st = report.stall
                out.append(f"sweep {st.sweep_seconds:.2f} s, worst stall {st.max_stall_ms:.1f} ms "
                           f"(without sweep {st.baseline_max_stall_ms:.1f} ms)")
        except (BenchError, ParseError, OSError) as error:
            fail(plan, report, f"stall: {error}")


def run_memory(plan: Plan, progress: Progress, report: Report) -> None:
    for count in plan.memory:
        try:
            with progress.step(f"memory: MemoryStore holding {count:,} five-line carts") as out:
                stdout = run_logged([plan.python, "-m", "bench.memory_probe", str(count)],
                                    plan.raw / f"memory-{count}.txt", timeout=300)
                result = parse_memory_result(stdout)
                report.memory.append(result)
                out.append(f"{result.mib_per_10k:.1f} MiB per 10,000 sessions")
        except (BenchError, ParseError, OSError) as error:
            fail(plan, report, f"memory at {count:,} sessions: {error}")


def run_peer_reap(plan: Plan, peers: Path, progress: Progress, report: Report) -> None:
    with scratch_dir("bench-reap-") as scratch:
        try:
            with progress.step(f"peer: session-file-store reap over {plan.sweep_files:,} expired files") as out:
                folder = ensure_express(peers, "express-file-store", plan.raw)
                stdout = run_logged(["node", "reap_bench.js", str(scratch / "sessions"), str(plan.sweep_files)],
                                    plan.raw / "peer-reap.txt", timeout=900, cwd=folder)
                report.peer_reap = parse_peer_reap(stdout)
                out.append(f"{report.peer_reap.seconds:.2f} s, worst stall {report.peer_reap.max_stall_ms:.0f} ms")
        except (BenchError, ParseError, OSError) as error:
            fail(plan, report, f"peer reap: {error}")


# ------------------------------------------------------------------------------------- the whole run

def run(plan: Plan) -> Report:
    peers = find_peers()
    if {"cart", "scale", "stall"} & set(plan.sections):
        check_wrk()
    plan.raw.mkdir(parents=True, exist_ok=True)
    report = Report(machine=machine_info(), seconds=plan.seconds,
                    workers="the shop's default" if plan.workers is None else str(plan.workers))
    progress = Progress(plan.steps())
    progress.log(f"bench: {plan.steps()} steps, {plan.seconds} s per cell; raw output in {plan.raw}")
    if "cart" in plan.sections:
        run_cart(plan, peers, progress, report)
    if "floor" in plan.sections:
        run_floor(plan, progress, report)
    fmt = None
    if {"scale", "stall"} & set(plan.sections):
        try:
            from bench.fill import learn_format

            fmt = learn_format()
        except Exception as error:  # the library missing or changed: say so, measure the rest
            fail(plan, report, f"cannot write session files in the file store's format: {error}")
    if "scale" in plan.sections and fmt is not None:
        run_scale(plan, peers, progress, report, fmt)
    if "sweep" in plan.sections:
        run_sweep(plan, progress, report)
    if "stall" in plan.sections and fmt is not None:
        run_stall(plan, peers, progress, report, fmt)
    if "reap" in plan.sections:
        run_peer_reap(plan, peers, progress, report)
    if "memory" in plan.sections:
        run_memory(plan, progress, report)
    return report
