#!/usr/bin/env bash
# Prints the path of a Chromium for the console's browser tests. Uses $CORRAL_CHROMIUM or
# Debian's /usr/bin/chromium; when missing, installs Debian's `chromium` package if running as
# root, else fails saying how to install it. Never downloads a browser build of its own.
set -euo pipefail

for candidate in "${CORRAL_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    echo "$candidate"
    exit 0
  fi
done

if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
  echo "find-chromium: /usr/bin/chromium is missing; installing Debian's chromium package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >&2 || { apt-get update -qq >&2 && apt-get install -y -qq chromium >&2; }
  if [[ -x /usr/bin/chromium ]]; then
    echo /usr/bin/chromium
    exit 0
  fi
fi

echo "find-chromium: no Chromium found. The console's browser tests need Debian's chromium package: run 'sudo apt-get install -y chromium', or set CORRAL_CHROMIUM to a Chromium binary." >&2
exit 1
