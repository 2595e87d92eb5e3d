#!/usr/bin/env bash
# Start a Docker engine in the background when none answers (no systemd on these machines),
# then wait, bounded, until `docker info` succeeds. Safe to run when one is already up.
set -euo pipefail

log="${DOCKERD_LOG:-/tmp/dockerd.log}"
timeout_s="${DOCKERD_TIMEOUT:-60}"

if docker info >/dev/null 2>&1; then
    echo "start-dockerd: a Docker engine already answers"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "start-dockerd: dockerd is not installed (apt-get install docker.io)" >&2
    exit 1
fi

# A dockerd of ours may be starting already (e.g. a second caller): don't start another one.
if ! pgrep -x dockerd >/dev/null 2>&1; then
    echo "start-dockerd: starting dockerd, log in $log"
    # setsid: the engine must outlive this script and not get the caller's Ctrl-C.
    setsid dockerd >"$log" 2>&1 </dev/null &
fi

for _ in $(seq "$timeout_s"); do
    if docker info >/dev/null 2>&1; then
        echo "start-dockerd: ready"
        exit 0
    fi
    sleep 1
done

echo "start-dockerd: dockerd did not answer within ${timeout_s}s; last lines of $log:" >&2
tail -n 30 "$log" >&2 || true
exit 1
