#!/bin/sh
# (Re)start hello-service from the directory this script is in (the service's checkout).
#
# Stops the instance recorded in .hello.pid (see stop.sh), then starts the new one detached
# (nohup, stdin from /dev/null, stdout/stderr appended to service.log), writes its pid to
# .hello.pid and returns at once: it does not wait for /health, the deploy engine checks it.
#
# Environment: HELLO_HOST (default 127.0.0.1), HELLO_PORT (default 8004),
# HELLO_HEALTH_DELAY (seconds), HELLO_PYTHON (interpreter, default python3, needs >= 3.11),
# HELLO_STOP_TIMEOUT (seconds to wait for the old instance, default 10).
# A hello.env file here (KEY=VALUE) is read by the app for settings not in the environment.
set -u
cd "$(dirname -- "$0")" || exit 1

sh ./stop.sh || exit 1

PYTHON=${HELLO_PYTHON:-python3}
LOG=service.log
echo "$(date '+%Y-%m-%d %H:%M:%S') starting hello-service $(head -n 1 VERSION 2>/dev/null)" >>"$LOG"
nohup "$PYTHON" -u hello_service.py </dev/null >>"$LOG" 2>&1 &
pid=$!
echo "$pid" >.hello.pid
echo "hello-service started (pid $pid, log $(pwd)/$LOG)"
