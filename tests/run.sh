#!/usr/bin/env bash
# Every test, on both storage backends: the README's one test command.
# Installs what the tests need when it is missing (Debian: openssl,
# PostgreSQL, Redis, nginx, systemd's tools, with apt-get; as root, or
# through sudo), then runs
#   1. cargo test --workspace        (the end-to-end suite on SQLite, and all else)
#   2. the end-to-end suite again on PostgreSQL (CHATY_TEST_BACKEND=postgres)
set -euo pipefail
cd "$(dirname "$0")/.."

# Servers the tests start themselves (tests/src/services.rs) each run in a
# temp dir on a free loopback port; any system instance a package starts is
# stopped again, holding no port or data dir.
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "tests/run.sh: the tests need ${missing[*]}; install them (apt-get install ${missing[*]}) or run this as root" >&2
      exit 2
    fi
  fi
  echo "== installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  # Stop only what this script installed (and its package started).
  for package in "${missing[@]}"; do
    case "$package" in
      postgresql | redis-server | nginx) $sudo service "$package" stop >/dev/null 2>&1 || true ;;
    esac
  done
fi

echo "== cargo test --workspace (SQLite)"
cargo test --workspace --locked

echo "== the end-to-end suite on PostgreSQL"
CHATY_TEST_BACKEND=postgres cargo test --locked -p chaty-tests --test it
