#!/bin/sh
# Stop the hello-service instance recorded in .hello.pid (next to this script).
#
# Sends SIGTERM, waits up to HELLO_STOP_TIMEOUT seconds (default 10) for the process to
# exit, then sends SIGKILL. A pid file whose process is gone, is a zombie, or is not a
# hello_service.py process (pid reused) is just removed. Exit 0 when nothing runs anymore,
# 1 when the process survived SIGKILL.
set -u
cd "$(dirname -- "$0")" || exit 1

PID_FILE=.hello.pid
TIMEOUT=${HELLO_STOP_TIMEOUT:-10}

# alive PID: true while PID exists, is not a zombie and (where /proc exists) runs hello_service.py
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/stat" ]; then
        state=$(sed 's/^.*) //' "/proc/$1/stat" | cut -c1)
        [ "$state" = Z ] && return 1
        tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'hello_service.py' || return 1
    fi
    return 0
}

# wait_gone PID SECONDS: poll every 0.1 s until PID is gone; false on timeout
wait_gone() {
    ticks=$(($2 * 10))
    while alive "$1"; do
        [ "$ticks" -le 0 ] && return 1
        ticks=$((ticks - 1))
        sleep 0.1
    done
    return 0
}

[ -f "$PID_FILE" ] || exit 0
pid=$(tr -dc '0-9' <"$PID_FILE")
if [ -n "$pid" ] && alive "$pid"; then
    echo "$(date '+%Y-%m-%d %H:%M:%S') stopping hello-service (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    if ! wait_gone "$pid" "$TIMEOUT"; then
        echo "$(date '+%Y-%m-%d %H:%M:%S') pid $pid ignored SIGTERM for ${TIMEOUT}s, killing"
        kill -KILL "$pid" 2>/dev/null
        if ! wait_gone "$pid" 5; then
            echo "hello-service: pid $pid survived SIGKILL" >&2
            exit 1
        fi
    fi
fi
rm -f "$PID_FILE"
exit 0
