#!/usr/bin/env bash
# Prints the path of a Chromium for the console's browser tests. Uses $CORRAL_CHROMIUM or
# Debian's /usr/bin/chromium; when missing, installs Debian's `chromium` package if running as
# root, else fails saying how to install it. Never downloads a browser build of its own.
exec bash "$(dirname "$0")/find-debian-tool.sh" chromium chromium "The console's browser tests" "${CORRAL_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser
