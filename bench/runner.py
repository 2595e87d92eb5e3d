"""Runs the bench: starts the shop, the peers and the probes as subprocesses, drives wrk through the
peers' own scripts, and fills a Report. Every raw output lands in bench-results/raw/."""
from __future__ import annotations

import contextlib
import datetime
import os
import platform
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from bench.results import (
    BACKENDS,
    LABELS,
    TARGET_SHOPPERS,
    LoadResult,
    LostUpdateResult,
    ParseError,
    Report,
    fmt_ms,
    fmt_rps,
    parse_load_result,
    parse_lost_updates,
    parse_memory_result,
    parse_peer_reap,
    parse_stall_result,
    parse_sweep_result,
    summarize_error_answers,
)

REPO = Path(__file__).resolve().parent.parent
LOST_UPDATE_REQUESTS = 50
PEER_FILES = ("bench_cart.sh", "cart_mix.lua", "make_cookies.py", "lost_updates.py", "tornado_ceiling.py",
              "express-file-store/package.json", "express-file-store/server.js",
              "express-file-store/reap_bench.js")
SECTIONS = ("cart", "scale", "sweep", "stall", "memory", "reap")


class BenchError(RuntimeError):
    """Something the bench needs is missing or broke; the message says what to do."""


@dataclass
class Plan:
    seconds: int = 8
    warmup_seconds: int = 1
    shoppers: tuple[int, ...] = (1, 4, 16, 64)
    backends: tuple[str, ...] = BACKENDS
    scale: tuple[int, ...] = (1_000, 10_000, 100_000)
    sweep_files: int = 100_000
    memory: tuple[int, ...] = (10_000, 50_000)
    sections: tuple[str, ...] = SECTIONS
    raw: Path = REPO / "bench-results" / "raw"
    python: str = sys.executable
    profile: bool = False
    failures: list[str] = field(default_factory=list)

    def steps(self) -> int:
        count = 0
        if "cart" in self.sections:
            count += len(self.backends) * (2 + len(self.shoppers))
        if "scale" in self.sections:
            count += 2 * len(self.scale)
        count += sum(1 for s in ("sweep", "stall", "reap") if s in self.sections)
        if "memory" in self.sections:
            count += len(self.memory)
        return count


# ------------------------------------------------------------------------------------- progress

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
        except BaseException as error:
            print(f"FAILED: {error}", file=self.stream, flush=True)
            raise
        print(summary[0] if summary else "done", file=self.stream, flush=True)


# ------------------------------------------------------------------------------------- finding things

def find_peers() -> Path:
    """The peers folder: $PEERS_DIR, or ../shared/peers next to the repo."""
    configured = os.environ.get("PEERS_DIR")
    folder = Path(configured) if configured else REPO.parent / "shared" / "peers"
    where = "from PEERS_DIR" if configured else "../shared/peers, next to the repo"
    hint = ("set PEERS_DIR to the folder holding bench_cart.sh, cart_mix.lua, make_cookies.py, "
            "tornado_ceiling.py and express-file-store/")
    if not folder.is_dir():
        raise BenchError(f"no peers folder at {folder} ({where}); {hint}")
    missing = [name for name in PEER_FILES if not (folder / name).is_file()]
    if missing:
        raise BenchError(f"the peers folder {folder} ({where}) lacks {', '.join(missing)}; {hint}")
    return folder


def check_tools(plan: Plan) -> None:
    if shutil.which("wrk") is None and {"cart", "scale", "stall"} & set(plan.sections):
        raise BenchError("wrk is not installed: apt-get install -y wrk")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------------- processes

class Service:
    """A server subprocess in its own process group, ready once `ready_path` answers 200."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, port: int,
                 ready_path: str, log: Path) -> None:
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.port, self.ready_path, self.log = port, ready_path, log
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # A restart appends to the log of the first start.
        with open(self.log, "ab" if self.process else "wb") as log:
            self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(timeout=60)
        except BaseException:
            self.stop()
            raise

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def died(self) -> str:
        return (f"{self.name} (pid {self.process.pid}) exited with {self.process.returncode} during the run, "
                f"stopped by something outside the bench: {tail(self.log, 2)}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode} before it was ready: "
                                 f"{tail(self.log)}")
            try:
                with urllib.request.urlopen(self.base_url + self.ready_path, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} not ready on {self.base_url}{self.ready_path} after {timeout:.0f}s: "
                         f"{tail(self.log)}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def run_logged(argv: list[str], log: Path, *, timeout: float, cwd: Path = REPO,
               env: dict[str, str] | None = None) -> str:
    """Run to completion; keep stdout+stderr in `log`; return stdout; raise BenchError on failure."""
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{Path(argv[0]).name} ran longer than {timeout:.0f}s") from error
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {' '.join(map(str, argv))}\nexit {done.returncode}\n--- stdout\n{done.stdout}"
                   f"--- stderr\n{done.stderr}")
    if done.returncode != 0:
        raise BenchError(f"{' '.join(map(str, argv[:3]))} exited {done.returncode}: "
                         f"{(done.stderr or done.stdout).strip()[-300:]} (see {log})")
    return done.stdout


def shop_env(backend: str, data_dir: Path, port: int, session_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_") and k not in ("COOKIE_SECRET",)}
    env.update(PORT=str(port), HOST="127.0.0.1", DATA_DIR=str(data_dir), SESSION_BACKEND=backend,
               SESSION_REAP_INTERVAL="0", PYTHONUNBUFFERED="1")
    if session_dir is not None:
        env["SESSION_DIR"] = str(session_dir)
    return env


def start_backend(backend: str, plan: Plan, peers: Path, scratch: Path, log_name: str,
                  session_dir: Path | None = None) -> Service:
    port = free_port()
    log = plan.raw / f"{log_name}.log"
    if backend in ("memory", "file"):
        if not (REPO / "app.py").is_file():
            raise BenchError(f"{REPO / 'app.py'} is missing: the shop has not landed yet")
        # `-u` (PYTHONUNBUFFERED is set anyway) keeps "python app.py" out of the command line, so a
        # colleague's `pkill -f "python app.py"` on this shared machine cannot stop the bench's shop.
        return Service(f"shop ({backend})", [plan.python, "-u", "app.py"],
                       env=shop_env(backend, scratch, port, session_dir),
                       cwd=REPO, port=port, ready_path="/healthz", log=log)
    if backend == "peer":
        folder = ensure_peer(peers, plan)
        env = dict(os.environ, PORT=str(port), SESSION_DIR=str(scratch / "sessions"))
        return Service("peer", ["node", "server.js"], env=env, cwd=folder, port=port, ready_path="/healthz", log=log)
    if backend == "ceiling":
        env = dict(os.environ, PORT=str(port))
        return Service("ceiling", [plan.python, str(peers / "tornado_ceiling.py")], env=env, cwd=scratch,
                       port=port, ready_path="/", log=log)
    raise ValueError(backend)


def ensure_peer(peers: Path, plan: Plan) -> Path:
    """A writable copy of the express peer with its node_modules, installed once and reused."""
    source, target = peers / "express-file-store", plan.raw / "peer"
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise BenchError("node and npm are needed for the express peer: apt-get install -y nodejs npm")
    same = all((target / name).is_file() and (target / name).read_bytes() == (source / name).read_bytes()
               for name in ("package.json", "server.js", "reap_bench.js"))
    if same and (target / "node_modules" / "session-file-store").is_dir():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    # ../shared is read-only and copytree keeps modes: make the copy ours to write into.
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    run_logged(["npm", "install", "--no-audit", "--no-fund"], plan.raw / "peer-npm-install.log",
               timeout=600, cwd=target)
    return target


def py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy==0.4.3")
    return found


@contextlib.contextmanager
def profiled(plan: Plan, service: Service, shoppers: int) -> Iterator[None]:
    """With --profile, a py-spy flame graph of the shop's process over a 16-shopper cell."""
    if not (plan.profile and service.name.startswith("shop") and shoppers == TARGET_SHOPPERS):
        yield
        return
    svg = plan.raw / f"profile-{service.log.stem}.svg"
    spy = subprocess.Popen([py_spy(), "record", "--pid", str(service.process.pid), "--nonblocking",
                            "--rate", "100", "--duration", str(max(1, plan.seconds - 1)), "-o", str(svg)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def cart_mix(peers: Path, base_url: str, shoppers: int, seconds: int, log: Path) -> LoadResult:
    """The peers' own bench_cart.sh (make_cookies.py + wrk + cart_mix.lua); its RESULT line."""
    out = run_logged(["sh", str(peers / "bench_cart.sh"), base_url, str(shoppers), str(seconds)], log,
                     timeout=seconds + 180)
    try:
        return parse_load_result(out)
    except ParseError as error:
        raise BenchError(f"{error} (see {log})") from None


def describe(result: LoadResult) -> str:
    errors = f", {result.errors} errors" if result.errors else ""
    return f"{fmt_rps(result.rps)} rps, p50 {fmt_ms(result.p50_ms)} ms, p99 {fmt_ms(result.p99_ms)} ms{errors}"


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder on the disk (not tmpfs: fsync must cost what it costs)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------------------------- sections

def run_cart(plan: Plan, peers: Path, progress: Progress, report: Report) -> None:
    for backend in plan.backends:
        with scratch_dir(f"bench-{backend}-") as scratch, contextlib.ExitStack() as stack:
            try:
                with progress.step(f"cart mix: start {LABELS[backend]}, warm up {plan.warmup_seconds} s") as out:
                    service = stack.enter_context(
                        start_backend(backend, plan, peers, scratch, f"server-{backend}"))
                    cart_mix(peers, service.base_url, TARGET_SHOPPERS, plan.warmup_seconds,
                             plan.raw / f"cart-{backend}-warmup.txt")
                    out.append(f"ready on {service.base_url}")
                with contextlib.suppress(BenchError, ParseError), \
                        progress.step(f"lost updates: {LABELS[backend]}, {LOST_UPDATE_REQUESTS} simultaneous adds") as out:
                    report.lost_updates[backend] = lost_updates(plan, peers, service, backend, report)
                    out.append(f"kept {report.lost_updates[backend].kept} of "
                               f"{report.lost_updates[backend].acknowledged}")
            except (BenchError, OSError) as error:
                fail(plan, report, f"cart mix, {LABELS[backend]}: {error}")
                progress.done += 1 + len(plan.shoppers)  # the lost-update step and the cells
                continue
            for shoppers in plan.shoppers:
                with contextlib.suppress(BenchError), \
                        progress.step(f"cart mix: {LABELS[backend]}, {shoppers} shoppers, {plan.seconds} s") as out:
                    try:
                        result = measure(plan, peers, service, shoppers, plan.raw / f"cart-{backend}-{shoppers}.txt",
                                         report)
                    except BenchError as error:
                        fail(plan, report, f"cart mix, {LABELS[backend]}, {shoppers} shoppers: {error}")
                        raise
                    report.cart[(backend, shoppers)] = result
                    out.append(describe(result))
            if backend in ("memory", "file") and any(r.non2xx3xx for (b, _), r in report.cart.items() if b == backend):
                service.stop()
                answers = summarize_error_answers(service.log.read_text(errors="replace"))
                why = ("; that is the shop refusing to hold more than 99 of one product: the cart mix adds 1 of "
                       "one of 20 products per POST, so one session passes 20 x 99 = 1,980 adds within a cell "
                       "when the shop is fast (the peers have no such cap)"
                       if answers.startswith("400 POST /cart/add x") and answers.count(" x") == 1 else "")
                report.notes.append(f"{LABELS[backend]}: error answers in its log: {answers or 'none logged'}{why}")


def lost_updates(plan: Plan, peers: Path, service: Service, backend: str, report: Report) -> LostUpdateResult:
    try:
        stdout = run_logged([plan.python, str(peers / "lost_updates.py"), service.base_url, str(LOST_UPDATE_REQUESTS)],
                            plan.raw / f"lost-updates-{backend}.txt", timeout=120)
        return parse_lost_updates(stdout)
    except (BenchError, ParseError) as error:
        fail(plan, report, f"lost updates, {LABELS[backend]}: {error}")
        raise


def measure(plan: Plan, peers: Path, service: Service, shoppers: int, log: Path, report: Report) -> LoadResult:
    """One cart-mix cell. A server that something outside the bench stopped meanwhile (the machine
    is shared) is started again and the cell measured once more; the note says so."""
    for attempt in (1, 2):
        if not service.alive:
            service.start()
            cart_mix(peers, service.base_url, TARGET_SHOPPERS, plan.warmup_seconds, log.with_suffix(".warmup.txt"))
        try:
            with profiled(plan, service, shoppers):
                result = cart_mix(peers, service.base_url, shoppers, plan.seconds, log)
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
                    with start_backend("file", plan, peers, scratch, f"server-scale-{count}", sessions) as service:
                        cart_mix(peers, service.base_url, TARGET_SHOPPERS, plan.warmup_seconds,
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
    """The shop's app in bench.stall_probe, the cart mix against it, then the sweep its Sweeper
    runs (`store.sweep_expired()`): how long the sweep takes and how late the loop runs meanwhile."""
    from bench.fill import fill

    with scratch_dir("bench-stall-") as scratch:
        try:
            with progress.step(f"stall: the shop's sweep of {plan.sweep_files:,} expired files "
                               f"under the cart mix ({TARGET_SHOPPERS} shoppers)") as out:
                fill(scratch / "sessions", fmt, plan.sweep_files, expired_fraction=1.0)
                report.stall = _stall(plan, peers, scratch, "sweep")
                st = report.stall
                out.append(f"sweep {st.sweep_seconds:.2f} s, worst stall {st.max_stall_ms:.1f} ms "
                           f"(without sweep {st.baseline_max_stall_ms:.1f} ms)")
        except (BenchError, ParseError, OSError) as error:
            fail(plan, report, f"stall: {error}")


def _stall(plan: Plan, peers: Path, scratch: Path, mode: str):
    port = free_port()
    env = shop_env("file", scratch, port, scratch / "sessions")
    log = plan.raw / f"stall-probe-{mode}.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as log_file:
        probe = subprocess.Popen([plan.python, "-m", "bench.stall_probe"], cwd=REPO, env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
                                 start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in probe.stdout], daemon=True).start()
    wrk = None
    try:
        _expect(lines, "READY", 60, log)
        cookies = scratch / "cookies.txt"
        cookies.write_text(run_logged(["python3", str(peers / "make_cookies.py"), base, str(TARGET_SHOPPERS)],
                                      plan.raw / f"stall-{mode}-cookies.txt", timeout=120))
        wrk = subprocess.Popen(["wrk", "-t", str(TARGET_SHOPPERS), "-c", str(TARGET_SHOPPERS), "-d", "600s",
                                "--latency", "-s", str(peers / "cart_mix.lua"), base],
                               env=dict(os.environ, COOKIES_FILE=str(cookies)), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(plan.warmup_seconds)
        _send(probe, "mark")
        time.sleep(plan.seconds)
        _send(probe, mode)
        result = parse_stall_result(_expect(lines, "RESULT", 600, log))
        wrk.send_signal(signal.SIGINT)
        wrk_out, _ = wrk.communicate(timeout=60)
        (plan.raw / f"stall-{mode}-wrk.txt").write_text(wrk_out)
        with contextlib.suppress(ParseError):
            result = type(result)(**{**vars(result), "load": parse_load_result(wrk_out)})
        _send(probe, "quit")
        probe.wait(timeout=30)
        return result
    finally:
        if wrk is not None and wrk.poll() is None:
            wrk.kill()
            wrk.wait()
        if probe.poll() is None:
            probe.terminate()
            try:
                probe.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(probe.pid, signal.SIGKILL)
                probe.wait()


def _send(probe: subprocess.Popen, command: str) -> None:
    probe.stdin.write(command + "\n")
    probe.stdin.flush()


def _expect(lines: queue.Queue, prefix: str, timeout: float, log: Path) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise BenchError(f"stall probe printed no {prefix} line within {timeout:.0f}s: {tail(log)}") from None
        if line.startswith(prefix):
            return line
        if time.monotonic() > deadline:
            raise BenchError(f"stall probe printed no {prefix} line within {timeout:.0f}s: {tail(log)}")


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
                folder = ensure_peer(peers, plan)
                stdout = run_logged(["node", "reap_bench.js", str(scratch / "sessions"), str(plan.sweep_files)],
                                    plan.raw / "peer-reap.txt", timeout=900, cwd=folder)
                report.peer_reap = parse_peer_reap(stdout)
                out.append(f"{report.peer_reap.seconds:.2f} s, worst stall {report.peer_reap.max_stall_ms:.0f} ms")
        except (BenchError, ParseError, OSError) as error:
            fail(plan, report, f"peer reap: {error}")


def fail(plan: Plan, report: Report, message: str) -> None:
    plan.failures.append(message)
    report.notes.append(f"FAILED: {message}")


# ------------------------------------------------------------------------------------- the machine

def machine_info() -> dict[str, str]:
    def first(path: str, key: str) -> str:
        with contextlib.suppress(OSError):
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        return "unknown"

    def version(argv: list[str]) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        return "not found"

    return {
        "CPU": first("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "memory": first("/proc/meminfo", "MemTotal"),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "node": version(["node", "--version"]),
        "wrk": version(["wrk", "--version"]).split(" Copyright")[0],
        "temp folder file system": _filesystem(Path(tempfile.gettempdir())),
        "commit": version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _filesystem(path: Path) -> str:
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1]
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, f"{parts[2]} ({parts[0]} on {mount})"
    return kind


# ------------------------------------------------------------------------------------- the whole run

def run(plan: Plan) -> Report:
    peers = find_peers()
    check_tools(plan)
    plan.raw.mkdir(parents=True, exist_ok=True)
    report = Report(machine=machine_info(), seconds=plan.seconds)
    progress = Progress(plan.steps())
    progress.log(f"bench: {plan.steps()} steps, {plan.seconds} s per cell; raw output in {plan.raw}")
    if "cart" in plan.sections:
        run_cart(plan, peers, progress, report)
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
