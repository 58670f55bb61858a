#!/usr/bin/env bash
# Prints the path of openssl, with which the corporate-network tests make a private CA and a server
# certificate. Uses $CORRAL_OPENSSL or Debian's /usr/bin/openssl; when missing, installs Debian's
# `openssl` package if running as root, else fails saying how to install it.
exec bash "$(dirname "$0")/find-debian-tool.sh" openssl openssl "The corporate-network tests" "${CORRAL_OPENSSL:-}" /usr/bin/openssl
