#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
# Idempotent: nothing to do when /usr/bin/chromium is there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CHROMIUM=${MESA_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] && exit 0
say "installing Chromium from Debian's packages (browser tests)"
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q chromium >/dev/null
[ -x "$CHROMIUM" ] || die "chromium installed but $CHROMIUM not found"
