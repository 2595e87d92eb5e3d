"""How to start each row of the cart section: the shop on each store and every peer of
../shared/peers (see its README.md), each on a free port with its own sessions folder or key prefix."""
from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

from bench.report import LABELS
from bench.processes import REPO, BenchError, RedisServer, Service, Unavailable, free_port, run_logged

PEER_FILES = ("cart_mix.lua", "node_cluster.js", "make_cookies.py", "lost_updates.py", "tornado_ceiling.py",
              "express-file-store/package.json", "express-file-store/server.js",
              "express-file-store/reap_bench.js", "express-redis/package.json", "express-redis/server.js",
              "flask-session/run.sh", "flask-session/app.py", "flask-session/requirements.txt")
EXPRESS = {"express-file": "express-file-store", "express-redis": "express-redis"}
FLASK_TYPES = {"flask-file": "filesystem", "flask-redis": "redis"}
NEEDS_REDIS = ("redis", "express-redis", "flask-redis")
_prefixes = itertools.count(1)


def find_peers() -> Path:
    """The peers folder: $PEERS_DIR, or ../shared/peers next to the repo."""
    configured = os.environ.get("PEERS_DIR")
    folder = Path(configured) if configured else REPO.parent / "shared" / "peers"
    where = "from PEERS_DIR" if configured else "../shared/peers, next to the repo"
    hint = "set PEERS_DIR to the folder holding bench_cart.sh, cart_mix.lua, the express and flask peers"
    if not folder.is_dir():
        raise BenchError(f"no peers folder at {folder} ({where}); {hint}")
    missing = [name for name in PEER_FILES if not (folder / name).is_file()]
    if missing:
        raise BenchError(f"the peers folder {folder} ({where}) lacks {', '.join(missing)}; {hint}")
    return folder


def check_wrk() -> None:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed: apt-get install -y wrk")


def shop_env(backend: str, data_dir: Path, port: int, session_dir: Path | None = None, *,
             workers: int | None = None, redis_url: str | None = None,
             redis_prefix: str | None = None) -> dict[str, str]:
    """The shop's environment: none of ours SESSION_*, COOKIE_SECRET or WORKERS, only what is given.
    `workers` None leaves WORKERS to the shop's default; the memory store always gets 1 (it allows no more)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SESSION_") and k not in ("COOKIE_SECRET", "WORKERS", "REDIS_URL")}
    env.update(PORT=str(port), HOST="127.0.0.1", DATA_DIR=str(data_dir), SESSION_BACKEND=backend,
               SESSION_REAP_INTERVAL="0", PYTHONUNBUFFERED="1",
               # Every shopper of the bench comes from 127.0.0.1: the per-address limit on new
               # sessions (there for floods from one client) would refuse the 17th of a burst.
               SESSIONS_PER_MINUTE="1000000")
    if workers is not None:
        env["WORKERS"] = "1" if backend == "memory" else str(workers)
    if session_dir is not None:
        env["SESSION_DIR"] = str(session_dir)
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    if redis_prefix is not None:
        env["SESSION_REDIS_PREFIX"] = redis_prefix
    return env


def new_prefix(row: str) -> str:
    """A Redis key prefix of this run and row alone, so no two runs or rows read each other's sessions."""
    return f"bench:{os.getpid()}:{next(_prefixes)}:{row}:"


def start_row(row: str, *, python: str, raw: Path, peers: Path, scratch: Path, log_name: str,
              workers: int | None = None, redis: RedisServer | None = None,
              session_dir: Path | None = None) -> Service:
    """A Service (not started yet) for one row in `workers` processes (the shop's WORKERS, the
    express peers under ../shared/peers/node_cluster.js, Flask's gunicorn workers; None: the
    shop's default and one peer process). Raises Unavailable when a tool it needs is missing."""
    port = free_port()
    log = raw / f"{log_name}.log"
    if row in NEEDS_REDIS and redis is None:
        raise Unavailable("no redis-server for the bench to start")
    redis_url = redis.url if redis is not None and row in NEEDS_REDIS else None
    if row in ("memory", "file", "redis"):
        if not (REPO / "app.py").is_file():
            raise BenchError(f"{REPO / 'app.py'} is missing: the shop has not landed yet")
        env = shop_env(row, scratch, port, session_dir, workers=workers, redis_url=redis_url,
                       redis_prefix=new_prefix(row) if row == "redis" else None)
        # `-u` (PYTHONUNBUFFERED is set anyway) keeps "python app.py" out of the command line, so a
        # colleague's `pkill -f "python app.py"` on this shared machine cannot stop the bench's shop.
        return Service(f"shop ({row})", [python, "-u", "app.py"], env=env, cwd=REPO, port=port,
                       ready_path="/healthz", log=log)
    if row in EXPRESS:
        folder = ensure_express(peers, EXPRESS[row], raw)
        env = dict(os.environ, PORT=str(port), SESSION_DIR=str(scratch / "sessions"))
        if redis_url is not None:
            env.update(REDIS_URL=redis_url, PREFIX=new_prefix(row))
        # node by its full path: the cluster's workers run as process.execPath, so the primary's
        # command line then matches theirs and Service.processes() counts the workers.
        node = shutil.which("node") or "node"
        argv = [node, "server.js"]
        if workers is not None and workers > 1:
            env["WORKERS"] = str(workers)
            argv = [node, str(peers / "node_cluster.js")]
        return Service(LABELS[row], argv, env=env, cwd=folder, port=port, ready_path="/healthz", log=log)
    if row in FLASK_TYPES:
        env = dict(os.environ, PORT=str(port), SESSION_TYPE=FLASK_TYPES[row],
                   SESSION_DIR=str(scratch / "flask-sessions"), WORKERS=str(workers or 1))
        if redis_url is not None:
            env.update(REDIS_URL=redis_url, PREFIX=new_prefix(row))
        # The first start makes the peer's venv and installs Flask into it: minutes, not seconds.
        return Service(LABELS[row], ["sh", str(peers / "flask-session" / "run.sh")], env=env, cwd=scratch,
                       port=port, ready_path="/healthz", log=log, ready_timeout=600)
    if row == "ceiling":
        env = dict(os.environ, PORT=str(port))
        # tornado_ceiling.py serves no /healthz; its home page answers once it listens.
        return Service(LABELS[row], [python, str(peers / "tornado_ceiling.py")], env=env, cwd=scratch,
                       port=port, ready_path="/", log=log)
    raise ValueError(row)


def ensure_express(peers: Path, name: str, raw: Path) -> Path:
    """A writable copy of one express peer with its node_modules, installed once and reused."""
    source, target = peers / name, raw / f"peer-{name}"
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise Unavailable("node and npm are needed for the express peers: apt-get install -y nodejs npm")
    files = sorted(p.name for p in source.iterdir() if p.is_file())
    same = all((target / f).is_file() and (target / f).read_bytes() == (source / f).read_bytes() for f in files)
    if same and (target / "node_modules").is_dir() and (target / ".installed").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    # ../shared is read-only and copytree keeps modes: make the copy ours to write into.
    for folder, _, names in os.walk(target):
        os.chmod(folder, 0o755)
        for entry in names:
            os.chmod(os.path.join(folder, entry), 0o644)
    run_logged(["npm", "install", "--no-audit", "--no-fund"], raw / f"peer-{name}-npm-install.log",
               timeout=600, cwd=target)
    (target / ".installed").touch()
    return target
