#!/usr/bin/env bash
# The browser the browser tests drive (tests/test_browser.py): Debian's chromium-headless-shell, installed
# with apt when it is not there (Playwright's own download cannot reach its servers from here). As root, or
# through sudo; elsewhere it says what to run and the browser tests are skipped (unless
# LUMAKRAS_REQUIRE_BROWSER=1, as in CI, where they fail instead).
set -euo pipefail
BROWSER=/usr/bin/chromium-headless-shell
if [ -x "$BROWSER" ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "install-browser: $BROWSER is missing; install it as root: apt-get install chromium-headless-shell" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq chromium-headless-shell >/dev/null
"$BROWSER" --version >&2 || true
