#!/usr/bin/env bash
# Make sure Debian's headless Chromium and its driver are present for the browser tests
# (tests/web, marker "browser"); the Chinese font that makes screenshots legible comes
# from scripts/ensure_cjk_font.sh. Installs them from the Debian archive when missing.
set -euo pipefail
"$(dirname "$0")/ensure_cjk_font.sh"
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing chromium and chromium-driver for the browser tests…"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version
