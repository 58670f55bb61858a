#!/usr/bin/env bash
# find-debian-tool.sh NAME PACKAGE WHAT CANDIDATE... — prints the first executable CANDIDATE
# (empty ones skipped, so "$OVERRIDE" may lead the list); when none is there, installs Debian's
# PACKAGE if running as root and prints the first candidate it provides, else fails saying how to
# install it. WHAT says which tests need it. Never downloads anything but the Debian package.
set -euo pipefail
name=$1 package=$2 what=$3
shift 3

found() {
  for candidate in "$@"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

found "$@" && exit 0
if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
  echo "find-$name: none of $* is there; installing Debian's $package package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$package" >&2 || { apt-get update -qq >&2 && apt-get install -y -qq "$package" >&2; }
  found "$@" && exit 0
fi
echo "find-$name: no $name found. $what need Debian's $package package: run 'sudo apt-get install -y $package', or point the variable named in scripts/find-$name.sh at one." >&2
exit 1
