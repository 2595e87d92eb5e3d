"""`python -m sessions stats DIR` and `python -m sessions sweep DIR`: a file store's figures, and a
sweep of its expired sessions, by hand (the same work the shop's sweeper does)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import file_io


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sessions", description=__doc__)
    parser.add_argument("command", choices=["stats", "sweep"],
                        help="stats: count sessions; sweep: delete expired sessions")
    parser.add_argument("directory", type=Path, help="the file store's folder, e.g. var/sessions")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--stale-temp-after", type=float, default=3600, metavar="SECONDS",
                        help="sweep: delete temp files left by a crash once this old (default 3600)")
    parser.add_argument("--threads", type=int, default=4, help="sweep: threads that unlink (default 4)")
    args = parser.parse_args(argv)
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
    if args.json:
        print(json.dumps(result))
    else:
        print("  ".join(f"{key}={value}" for key, value in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
