#!/usr/bin/env bash
# Installs what the local services need, from Debian's packages only, and
# leaves the system's own apt sources untouched. Idempotent: on a machine
# that already has everything it checks and exits within a second or two.
#
#   Debian 13: postgresql-17 + postgresql-17-timescaledb (binary package).
#   Debian 12: postgresql-15 + TimescaleDB built from Debian's trixie source
#              package (Apache edition) through a private apt configuration.
set -euo pipefail

STATE_DIR="${QP_PROVISION_DIR:-${QP_DATA_DIR:-$PWD/.qp}/provision}"
mkdir -p "$STATE_DIR"
log() { printf '[provision] %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

. /etc/os-release
DEB_MAJOR="${VERSION_ID:-12}"
if [ "$DEB_MAJOR" -ge 13 ]; then PG_MAJOR=17; else PG_MAJOR=15; fi
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"

missing=()
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || missing+=("$1"); }
need "postgresql-$PG_MAJOR"
need "postgresql-server-dev-$PG_MAJOR"
need redis-server
need redis-tools
if [ "$PG_MAJOR" = 17 ]; then
  need postgresql-17-timescaledb
else
  need cmake; need build-essential; need dpkg-dev
fi

apt_updated=0
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  apt_updated=1
  # postgresql-common would create and start a system cluster on 5432; we run our own.
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/qp-no-main.conf >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  # Debian starts redis-server on 6379 when installed; the project uses its own instance.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi

PKGLIB="$("$PG_BIN/pg_config" --pkglibdir 2>/dev/null || /usr/lib/postgresql/$PG_MAJOR/bin/pg_config --pkglibdir)"
if [ "$PG_MAJOR" = 15 ] && ! ls "$PKGLIB"/timescaledb*.so >/dev/null 2>&1; then
  log "building TimescaleDB (Apache edition) from Debian's trixie source package"
  APT_DIR="$STATE_DIR/apt"
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/src"
  MIRROR="$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'; grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'; } | grep -v security | head -n1 || true)"
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  echo "deb-src ${MIRROR%/} trixie main" > "$APT_DIR/sources.list"
  APT_OPTS=(-o "Dir::Etc::sourcelist=$APT_DIR/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$APT_DIR/lists" -o "APT::Sandbox::User=root")
  apt-get "${APT_OPTS[@]}" update -qq
  (cd "$APT_DIR/src" && rm -rf timescaledb-* && apt-get "${APT_OPTS[@]}" source --download-only timescaledb >&2 && dpkg-source -x --no-check timescaledb_*.dsc >&2)
  SRC="$(find "$APT_DIR/src" -maxdepth 1 -type d -name 'timescaledb-*' | head -n1)"
  (cd "$SRC" && PATH="$PG_BIN:$PATH" ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DUSE_TELEMETRY=OFF -DPG_CONFIG="$PG_BIN/pg_config" >&2 && $SUDO make -C build -j"$(nproc)" install >&2)
fi
ls "$PKGLIB"/timescaledb*.so >/dev/null 2>&1 || { log "TimescaleDB not found in $PKGLIB after provisioning"; exit 1; }
echo "$PG_BIN"
