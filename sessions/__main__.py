"""`python -m sessions stats DIR` and `python -m sessions sweep DIR`: a file store's figures, and a
sweep of its expired sessions, by hand (the same work the shop's sweeper does).
`python -m sessions stats redis://HOST:PORT/DB [--prefix shop:session:]`: a Redis store's figures
(it scans the prefix: run it off-peak on a large Redis; Redis expires sessions itself, so there is
nothing to sweep).
`python -m sessions copy --from SRC --to DST [--move]`: every session of one store into another
(`file:PATH` or a Redis URL each), safe while the shop serves and to run twice (sessions/copy.py)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from . import file_io


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["copy"]:
        return _copy(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m sessions", description=__doc__)
    parser.add_argument("command", choices=["stats", "sweep", "copy"],
                        help="stats: count sessions; sweep: delete expired sessions; "
                             "copy: see python -m sessions copy --help")
    parser.add_argument("directory", help="the file store's folder, e.g. var/sessions; for stats, also a "
                                          "Redis store's URL (redis://, rediss://, unix://)")
    parser.add_argument("--prefix", default="shop:session:", help="stats on Redis: the key prefix (default shop:session:)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--stale-temp-after", type=float, default=3600, metavar="SECONDS",
                        help="sweep: delete temp files left by a crash once this old (default 3600)")
    parser.add_argument("--threads", type=int, default=4, help="sweep: threads that unlink (default 4)")
    args = parser.parse_args(argv)
    if args.directory.startswith(REDIS_SCHEMES):
        if args.command != "stats":
            print("a Redis store expires its sessions itself: there is nothing to sweep", file=sys.stderr)
            return 2
        result = _redis_stats(args.directory, args.prefix)
        if result is None:
            return 1
        _print(result, args.json)
        return 0
    args.directory = Path(args.directory)
    if not args.directory.is_dir():
        print(f"{args.directory}: not a folder", file=sys.stderr)
        return 2
    # The blocking functions themselves, in this process: nothing to serve, so no loop to keep free
    # (and a mistyped folder is not filled with a store's own subfolders).
    directory = str(args.directory)
    if args.command == "stats":
        result = file_io.stats(directory).as_dict()
    else:
        started = time.monotonic()
        removed = file_io.sweep_directory(directory, args.stale_temp_after, max(1, args.threads))
        result = {"removed": removed, "seconds": round(time.monotonic() - started, 3)}
    _print(result, args.json)
    return 0


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _copy(argv: list[str]) -> int:
    from . import copy

    parser = argparse.ArgumentParser(prog="python -m sessions copy", description=copy.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, metavar="SRC",
                        help="the store to copy from: file:PATH or a Redis URL")
    parser.add_argument("--to", dest="target", required=True, metavar="DST",
                        help="the store to copy to: file:PATH or a Redis URL")
    parser.add_argument("--move", action="store_true", help="delete each source session once it is copied")
    parser.add_argument("--prefix", default="shop:session:",
                        help="a Redis store's key prefix, for both (default shop:session:, as SESSION_REDIS_PREFIX)")
    args = parser.parse_args(argv)
    return copy.main(args.source, args.target, move=args.move, prefix=args.prefix)


def _redis_stats(url: str, prefix: str) -> dict | None:
    from .redis import RedisStore  # the Redis client is needed only here
    from .store import StoreUnavailable

    async def stats() -> dict:
        store = RedisStore(url, prefix=prefix, retries=1)
        try:
            return (await store.stats()).as_dict()
        finally:
            await store.close()

    try:
        return asyncio.run(stats())
    except (StoreUnavailable, ValueError) as error:
        print(f"cannot read the Redis store: {error}", file=sys.stderr)
        return None


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        print("  ".join(f"{key}={value}" for key, value in result.items()))


if __name__ == "__main__":
    sys.exit(main())
