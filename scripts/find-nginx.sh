#!/usr/bin/env bash
# Prints the path of nginx for the tests that put a real reverse proxy in front of the control
# plane. Uses $CORRAL_NGINX or Debian's /usr/sbin/nginx; when missing, installs Debian's `nginx`
# package if running as root, else fails saying how to install it. The tests run their own
# nginx on loopback with a config of their own; the package's service is never needed.
exec bash "$(dirname "$0")/find-debian-tool.sh" nginx nginx "The reverse-proxy tests" "${CORRAL_NGINX:-}" /usr/sbin/nginx
