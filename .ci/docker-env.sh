#!/usr/bin/env bash
# Makes a Docker engine and the local base image available on a machine with no registry:
# installs Debian's docker.io engine when no daemon answers, starts dockerd in the
# background, and imports a debootstrapped bookworm as `debian:bookworm-slim` once.
# Idempotent: does nothing that is already done. Needs root and Debian's package archive.
set -euo pipefail

log() { printf '[docker-env] %s\n' "$*" >&2; }

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    log "installing docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  log "starting dockerd"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/dockerd.log"; tail -20 /tmp/dockerd.log >&2; exit 1; }
fi

if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  log "debootstrapping bookworm (minbase) as debian:bookworm-slim"
  root=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$root" >/tmp/debootstrap.log 2>&1 \
    || { tail -20 /tmp/debootstrap.log >&2; exit 1; }
  tar -C "$root" -c . | docker import - debian:bookworm-slim >/dev/null
  rm -rf "$root"
fi
log "docker engine and debian:bookworm-slim ready"
