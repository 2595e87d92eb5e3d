"""The bench's parts, run in one sitting: the cart mixes against every row, the scale, the sweeps,
the memory store's footprint and the system-call floor. Each fills its part of the Report; a part
that breaks is a failure in the notes, and the rest still runs. Raw outputs land in plan.raw."""
from __future__ import annotations

import contextlib
import dataclasses
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
    parse_migration_result,
    parse_peer_reap,
    parse_round_trip_result,
    parse_sweep_result,
    summarize_error_answers,
    summarize_profile,
)
from bench.peers import NEEDS_REDIS, check_wrk, ensure_express, find_peers, start_row
from bench.processes import REPO, BenchError, RedisServer, Service, Unavailable, run_logged, scratch_dir
from bench.report import (
    LABELS,
    LOST_UPDATE_REQUESTS,
    MIXES,
    ROWS,
    SHOP_ROWS,
    TARGET_SHOPPERS,
    Key,
    Report,
    check_targets,
    label,
    process_counts,
)

SECTIONS = ("cart", "floor", "scale", "sweep", "stall", "memory", "reap")
# The GET half of each mix. The ceiling has no /api/cart; its /cart is already a bare list, the
# work the API mix asks of the others, so it answers that instead (the report says so).
CART_PATHS = {"api": "/api/cart", "page": "/cart"}
CEILING_API_PATH = "/cart"


@dataclass
class Plan:
    seconds: int = 5
    rounds: int = 3
    warmup_seconds: int = 1
    mixes: tuple[str, ...] = MIXES
    page_shoppers: tuple[int, ...] = (TARGET_SHOPPERS,)   # the page mix's shoppers (at N processes)
    api_shoppers: tuple[int, ...] = (TARGET_SHOPPERS,)
    rows: tuple[str, ...] = ROWS
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)  # N: the shop's WORKERS=N against N peer processes
    scale: tuple[int, ...] = (1_000, 10_000, 100_000)
    sweep_files: int = 100_000
    memory: tuple[int, ...] = (10_000, 50_000)
    floor_iterations: int = 2_000
    floor_seconds: int = 5
    sections: tuple[str, ...] = SECTIONS
    raw: Path = REPO / "bench-results" / "raw"
    python: str = sys.executable
    profile: str = "misses"     # py-spy profiles of the shop's stores: "misses", "all" or "none"
    failures: list[str] = field(default_factory=list)

    def servers(self) -> list[tuple[str, int]]:
        """(row, processes) of every server the cart section starts."""
        return [(row, n) for row in self.rows for n in process_counts(row, self.cores)]

    def cells(self) -> list[Key]:
        """Every cell of a round: the API mix on every server; the page mix on each row at its most
        processes (N, or 1 for the rows that only run one)."""
        cells = []
        for mix in self.mixes:
            for row, processes in self.servers():
                if mix == "page" and processes != max(process_counts(row, self.cores)):
                    continue
                shoppers = self.api_shoppers if mix == "api" else self.page_shoppers
                cells += [(mix, row, processes, n) for n in shoppers]
        return cells

    def steps(self) -> int:
        count = 0
        if "cart" in self.sections:
            count += 2 * len(self.servers()) + self.rounds * len(self.cells())
            if self.profile != "none":
                count += sum(1 for row in ("file", "redis") if row in self.rows)
        if "floor" in self.sections:
            count += 2
        if "scale" in self.sections:
            count += 2 * len(self.scale)
        count += sum(1 for s in ("sweep", "stall", "reap") if s in self.sections)
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
        print(f"[{self.done:>3}/{self.total} {elapsed // 60}:{elapsed % 60:02d}] {text} ... ",
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
    from bench.format import fmt_ms, fmt_rps, fmt_us

    cpu = f", {fmt_us(result.cpu_us)} µs CPU/request" if result.cpu_us is not None else ""
    refused = f", {result.refused:,} 4xx" if result.refused else ""
    errors = f", {result.errors} FAULTS" if result.errors else ""
    return (f"{fmt_rps(result.rps)} rps{cpu}, p50 {fmt_ms(result.p50_ms)} ms, p99 {fmt_ms(result.p99_ms)} ms"
            f"{refused}{errors}")


# ------------------------------------------------------------------------------------- load

def cart_mix(plan: Plan, peers: Path, service: Service, shoppers: int, seconds: int, log: Path,
             cart_path: str = "/cart", redis: RedisServer | None = None, profile: Path | None = None) -> LoadResult:
    """The peers' own cart mix (make_cookies.py, then wrk with cart_mix.lua, as bench_cart.sh runs
    them), with the CPU time the server's processes (and `redis`'s, when given) spent meanwhile.
    With `profile`, py-spy samples the server's leader process while wrk runs, into that file."""
    cookies = log.with_suffix(".cookies")
    cookies.write_text(run_logged([plan.python, str(peers / "make_cookies.py"), service.base_url, str(shoppers)],
                                  log.with_suffix(".cookies.log"), timeout=120))
    with contextlib.ExitStack() as stack:
        if profile is not None:
            stack.enter_context(_py_spy(service, max(1, seconds - 1), profile))
        cpu, store_cpu = service.cpu_seconds(), redis.cpu_seconds() if redis else 0.0
        calls = redis.command_calls() if redis else {}
        out = run_logged(["wrk", "-t", str(shoppers), "-c", str(shoppers), "-d", f"{seconds}s", "--latency",
                          "-s", str(peers / "cart_mix.lua"), service.base_url], log, timeout=seconds + 120,
                         env=dict(os.environ, COOKIES_FILE=str(cookies), CART_PATH=cart_path))
        cpu, store_cpu = service.cpu_seconds() - cpu, (redis.cpu_seconds() - store_cpu) if redis else 0.0
        calls = {name: n - calls.get(name, 0) for name, n in redis.command_calls().items()} if redis else {}
    try:
        result = parse_load_result(out)
    except ParseError as error:
        raise BenchError(f"{error} (see {log})") from None
    answered = result.rps * seconds
    if answered == 0:
        return result
    commands = {name: n / answered for name, n in sorted(calls.items()) if n > 0 and name != "info"}
    return dataclasses.replace(result, cpu_us=cpu / answered * 1e6,
                               store_cpu_us=store_cpu / answered * 1e6 if redis else None,
                               store_commands=commands if redis else None)


def py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


@contextlib.contextmanager
def _py_spy(service: Service, seconds: int, out: Path) -> Iterator[None]:
    # --gil: only samples that hold the GIL, the Python work of the process; a system call (an
    # fsync, a wait for a socket) runs without it, and the floors measure those apart.
    recorder = subprocess.Popen([py_spy(), "record", "--pid", str(service.process.pid), "--nonblocking", "--gil",
                                 "--rate", "200", "--duration", str(seconds), "--format", "raw", "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            recorder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()


def measure(plan: Plan, peers: Path, service: Service, shoppers: int, log: Path, report: Report,
            cart_path: str = "/cart", redis: RedisServer | None = None) -> LoadResult:
    """One cell. A server that something outside the bench stopped meanwhile (the machine is
    shared) is started again and the cell measured once more; the note says so."""
    for attempt in (1, 2):
        if not service.alive:
            service.start()
            cart_mix(plan, peers, service, TARGET_SHOPPERS, plan.warmup_seconds, log.with_suffix(".warmup.txt"),
                     cart_path)
        try:
            result = cart_mix(plan, peers, service, shoppers, plan.seconds, log, cart_path, redis)
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
    """Start every server (warm it up, count its lost updates), then the rounds: each runs every
    cell once, in the opposite order to the round before; then, for the shop's stores, a profile."""
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
        services: dict[tuple[str, int], Service] = {}
        for row, processes in plan.servers():
            if row in report.unavailable:
                progress.skip(2)
                continue
            service = _start_server(plan, peers, progress, report, row, processes, redis, stack)
            if service is not None:
                services[(row, processes)] = service
        cells = [cell for cell in plan.cells() if (cell[1], cell[2]) in services]
        progress.skip(plan.rounds * (len(plan.cells()) - len(cells)))
        for number in range(plan.rounds):
            measured: dict[Key, LoadResult] = {}
            report.rounds.append(measured)
            for mix, row, processes, shoppers in (cells if number % 2 == 0 else cells[::-1]):
                service = services[(row, processes)]
                with contextlib.suppress(BenchError), progress.step(
                        f"round {number + 1}/{plan.rounds}, {mix} mix: {label(row, processes)}, "
                        f"{shoppers} shoppers, {plan.seconds} s") as out:
                    try:
                        result = measure(plan, peers, service, shoppers,
                                         plan.raw / f"{mix}-{row}-{processes}p-{shoppers}-r{number + 1}.txt", report,
                                         _cart_path(mix, row), redis if row in NEEDS_REDIS else None)
                    except BenchError as error:
                        fail(plan, report, f"round {number + 1}, {mix} mix, {label(row, processes)}, "
                                           f"{shoppers} shoppers: {error}")
                        raise
                    measured[(mix, row, processes, shoppers)] = result
                    out.append(describe(result))
                    if result.errors:
                        fail(plan, report, f"round {number + 1}, {mix} mix, {label(row, processes)}: "
                                           f"{result.errors} faults (5xx or socket errors); the round is left out")
        _profile_stores(plan, peers, progress, report, services)
        for (row, processes), service in services.items():
            refused = sum(r.refused for measured in report.rounds for (m, b, n, s), r in measured.items()
                          if (b, n) == (row, processes))
            if row in SHOP_ROWS and refused:
                service.stop()
                answers = summarize_error_answers(service.log.read_text(errors="replace"))
                report.notes.append(f"{label(row, processes)}: {refused:,} 4xx answers over the rounds; in its log: "
                                    f"{answers or 'none logged'}" + _cap_note(answers))
    if "ceiling" in plan.rows and "api" in plan.mixes:
        report.notes.append(f"{LABELS['ceiling']}: `tornado_ceiling.py` has no `/api/cart`; in the API mix it "
                            f"answers `GET {CEILING_API_PATH}`, which for it is already a bare list, the same work")


def _cap_note(answers: str) -> str:
    if answers.startswith("400 POST /cart/add x") and answers.count(" x") == 1:
        return ("; that is the shop refusing to hold more than 99 of one product: the cart mix adds 1 of one of 20 "
                "products per POST, so one session passes 20 x 99 = 1,980 adds when the shop is fast (the peers "
                "have no such cap); counted, not a fault")
    return ""


def _start_server(plan: Plan, peers: Path, progress: Progress, report: Report, row: str, processes: int,
                  redis: RedisServer | None, stack: contextlib.ExitStack) -> Service | None:
    scratch = stack.enter_context(scratch_dir(f"bench-{row}-{processes}p-"))
    try:
        with progress.step(f"{label(row, processes)}: start, warm up {plan.warmup_seconds} s") as out:
            service = stack.enter_context(start_row(
                row, python=plan.python, raw=plan.raw, peers=peers, scratch=scratch,
                log_name=f"server-{row}-{processes}p", workers=processes, redis=redis))
            cart_mix(plan, peers, service, TARGET_SHOPPERS, plan.warmup_seconds,
                     plan.raw / f"warmup-{row}-{processes}p.txt", _cart_path(plan.mixes[0], row))
            serving = service.processes()
            if serving != processes:
                report.notes.append(f"{label(row, processes)}: {serving} processes served, not {processes}")
            out.append(f"ready on {service.base_url}, {serving} process(es)")
        with contextlib.suppress(BenchError, ParseError), progress.step(
                f"lost updates: {label(row, processes)}, {LOST_UPDATE_REQUESTS} simultaneous adds") as out:
            kept = report.lost_updates[(row, processes)] = lost_updates(plan, peers, service, row, processes, report)
            out.append(f"kept {kept.kept} of {kept.acknowledged}")
        return service
    except Unavailable as error:
        report.unavailable[row] = str(error)
        progress.skip(1)
    except (BenchError, OSError) as error:
        fail(plan, report, f"{label(row, processes)}: {error}")
        progress.skip(1)
    return None


def _profile_stores(plan: Plan, peers: Path, progress: Progress, report: Report,
                    services: dict[tuple[str, int], Service]) -> None:
    """A py-spy profile of the shop on `file` and on `redis` (one process, one more API-mix cell):
    for every store with a missed target (plan.profile "misses"), or all (plan.profile "all")."""
    if plan.profile == "none":
        return
    missed = {t.row for t in check_targets(report) if t.status == "missed"}
    for row in (r for r in ("file", "redis") if r in plan.rows):
        service = services.get((row, 1))
        if service is None or (plan.profile == "misses" and row not in missed):
            progress.skip(1)
            continue
        if py_spy() is None:
            progress.skip(1)
            report.notes.append(f"no profile of {LABELS[row]}: py-spy is not installed "
                                "(.venv/bin/pip install py-spy==0.4.3)")
            continue
        with contextlib.suppress(BenchError, ParseError, OSError), progress.step(
                f"profile: {label(row, 1)}, API mix, {plan.seconds} s under py-spy") as out:
            folded = plan.raw / f"profile-{row}.txt"
            cart_mix(plan, peers, service, TARGET_SHOPPERS, plan.seconds, plan.raw / f"profile-{row}-load.txt",
                     CART_PATHS["api"], profile=folded)
            report.profiles[row] = summarize_profile(folded.read_text())
            out.append(", ".join(f"{name} {share:.0%}" for share, name in report.profiles[row][0][:3]))


def _cart_path(mix: str, row: str) -> str:
    return CEILING_API_PATH if (mix == "api" and row == "ceiling") else CART_PATHS[mix]


def lost_updates(plan: Plan, peers: Path, service: Service, row: str, processes: int,
                 report: Report) -> LostUpdateResult:
    try:
        stdout = run_logged([plan.python, str(peers / "lost_updates.py"), service.base_url, str(LOST_UPDATE_REQUESTS)],
                            plan.raw / f"lost-updates-{row}-{processes}p.txt", timeout=120)
        return parse_lost_updates(stdout)
    except (BenchError, ParseError) as error:
        fail(plan, report, f"lost updates, {label(row, processes)}: {error}")
        raise


# ------------------------------------------------------------------------------------- the other parts

def run_floor(plan: Plan, progress: Progress, report: Report) -> None:
    """Each shared store's own work alone: the file store's system calls, the Redis store's round trips."""
    with scratch_dir("bench-floor-") as scratch:
        try:
            with progress.step(f"floor: the file store's system calls alone, {plan.floor_iterations:,} "
                               f"iterations, then {TARGET_SHOPPERS} threads for {plan.floor_seconds} s") as out:
                stdout = run_logged([plan.python, "-m", "bench.floor_probe", str(scratch), str(plan.floor_iterations),
                                     str(TARGET_SHOPPERS), str(plan.floor_seconds)], plan.raw / "floor.txt", timeout=600)
                report.floor = parse_floor_result(stdout)
                out.append(f"change {report.floor.change_us:,.0f} µs ({report.floor.change_cpu_us:,.0f} µs CPU), "
                           f"read {report.floor.read_us:,.0f} µs ({report.floor.read_cpu_us:,.0f} µs CPU)")
        except (BenchError, ParseError, OSError) as error:
            fail(plan, report, f"floor: {error}")
    try:
        with progress.step(f"floor: the Redis store's round trips alone, {plan.floor_iterations:,} iterations") as out, \
                RedisServer(plan.raw / "redis-server-floor.log") as redis:
            stdout = run_logged([plan.python, "-m", "bench.redis_probe", redis.url, str(plan.floor_iterations)],
                                plan.raw / "redis-floor.txt", timeout=600)
            report.redis_floor = parse_round_trip_result(stdout)
            out.append(f"read {report.redis_floor.read_cpu_us:,.0f} µs, change {report.redis_floor.change_cpu_us:,.0f} "
                       "µs of CPU")
    except Unavailable as error:
        report.notes.append(f"no floor for the Redis store: {error}")
    except (BenchError, ParseError, OSError) as error:
        fail(plan, report, f"redis floor: {error}")
    run_migration(plan, progress, report)


def run_migration(plan: Plan, progress: Progress, report: Report) -> None:
    """What a request's session read costs with SESSION_MIGRATE_FROM (file -> redis), at the store."""
    try:
        with scratch_dir("bench-migration-") as scratch, \
                progress.step(f"migration: file -> redis at the store, {plan.floor_iterations:,} reads a cell") as out, \
                RedisServer(plan.raw / "redis-server-migration.log") as redis:
            stdout = run_logged([plan.python, "-m", "bench.migration_probe", redis.url, str(scratch),
                                 str(plan.floor_iterations)], plan.raw / "migration.txt", timeout=600)
            report.migration = found = parse_migration_result(stdout)
            out.append(f"a session moved already {found.migrating_hit_cpu_us:,.0f} µs of CPU (alone "
                       f"{found.plain_hit_cpu_us:,.0f}), in neither store {found.migrating_miss_cpu_us:,.0f} µs "
                       f"(alone {found.plain_miss_cpu_us:,.0f})")
    except Unavailable as error:
        report.notes.append(f"no migration figures: {error}")
    except (BenchError, ParseError, OSError) as error:
        fail(plan, report, f"migration: {error}")


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
                                   log_name=f"server-scale-{count}", workers=plan.cores,
                                   session_dir=sessions) as service:
                        cart_mix(plan, peers, service, TARGET_SHOPPERS, plan.warmup_seconds,
                                 plan.raw / f"scale-{count}-warmup.txt")
                        result = measure(plan, peers, service, TARGET_SHOPPERS, plan.raw / f"scale-{count}.txt",
                                         report)
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
    report = Report(machine=machine_info(), seconds=plan.seconds, cores=plan.cores)
    progress = Progress(plan.steps())
    progress.log(f"bench: {plan.steps()} steps, {plan.seconds} s per cell, {plan.rounds} rounds, 1 and {plan.cores} "
                 f"processes; raw output in {plan.raw}")
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
