#!/usr/bin/env bash
# Prints the path of squid for the tests that put a real forward proxy (HTTPS_PROXY) between an
# agent and the control plane. Uses $CORRAL_SQUID or Debian's /usr/sbin/squid; when missing,
# installs Debian's `squid` package if running as root, else fails saying how to install it. The
# package also ships the basic_ncsa_auth helper (/usr/lib/squid/basic_ncsa_auth) the tests use for
# proxy credentials. The tests run their own squid on loopback with a config of their own; the
# package's service is never needed.
exec bash "$(dirname "$0")/find-debian-tool.sh" squid squid "The forward-proxy tests" "${CORRAL_SQUID:-}" /usr/sbin/squid
