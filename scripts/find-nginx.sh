#!/usr/bin/env bash
# Prints the path of nginx for the tests that put a real reverse proxy in front of the control
# plane. Uses $CORRAL_NGINX or Debian's /usr/sbin/nginx; when missing, installs Debian's `nginx`
# package if running as root, else fails saying how to install it. The tests run their own
# nginx on loopback with a config of their own; the package's service is never needed.
set -euo pipefail

for candidate in "${CORRAL_NGINX:-}" /usr/sbin/nginx; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    echo "$candidate"
    exit 0
  fi
done

if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
  echo "find-nginx: /usr/sbin/nginx is missing; installing Debian's nginx package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq nginx >&2 || { apt-get update -qq >&2 && apt-get install -y -qq nginx >&2; }
  if [[ -x /usr/sbin/nginx ]]; then
    echo /usr/sbin/nginx
    exit 0
  fi
fi

echo "find-nginx: no nginx found. The reverse-proxy tests need Debian's nginx package: run 'sudo apt-get install -y nginx', or set CORRAL_NGINX to an nginx binary." >&2
exit 1
