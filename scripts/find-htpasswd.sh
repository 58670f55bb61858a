#!/usr/bin/env bash
# Prints the path of htpasswd, which writes the password file of the forward-proxy tests' squid
# (basic_ncsa_auth reads it). Uses $CORRAL_HTPASSWD or Debian's /usr/bin/htpasswd; when missing,
# installs Debian's `apache2-utils` package if running as root, else fails saying how to install it.
exec bash "$(dirname "$0")/find-debian-tool.sh" htpasswd apache2-utils "The forward-proxy tests" "${CORRAL_HTPASSWD:-}" /usr/bin/htpasswd
