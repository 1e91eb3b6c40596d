#!/bin/sh
# Installs the Debian packages the build and tests need, only if missing.
# nodejs and npm build the web viewer (gui/); chromium runs its browser tests.
set -e
PKGS="build-essential pkg-config python3 python3-dev liburcu-dev libunwind-dev libjson-c-dev libyaml-dev libcurl4-openssl-dev libmicrohttpd-dev python3-pytest python3-pytest-rerunfailures python3-numpy python3-ipython python3-ipykernel gunicorn python3-django libjemalloc2 chromium python3-sympy python3-pandas clang python3-venv libprotobuf-c-dev protobuf-c-compiler zlib1g-dev golang-go python3-distributed mypy"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# A node that brings its own npm (NodeSource's nodejs) conflicts with
# Debian's npm package: ask for the packages only when a command is absent.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $missing >/dev/null
