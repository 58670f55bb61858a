#!/usr/bin/env bash
# Prints the path of promtool for the tests that check /metrics and the alert rules with
# Prometheus's own linter. Uses $CORRAL_PROMTOOL or Debian's /usr/bin/promtool; when missing,
# installs Debian's `prometheus` package if running as root, else fails saying how to install it.
# The package's service is never needed.
exec bash "$(dirname "$0")/find-debian-tool.sh" promtool prometheus "The metrics tests" "${CORRAL_PROMTOOL:-}" /usr/bin/promtool
