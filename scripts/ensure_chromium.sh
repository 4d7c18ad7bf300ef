#!/usr/bin/env bash
# Make sure Debian's headless Chromium and its driver are present for the browser tests
# (tests/web, marker "browser") and a Chinese font so screenshots are legible.
# Installs them from the Debian archive when missing.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && fc-list :lang=zh 2>/dev/null | grep -q .; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing chromium, chromium-driver and a Chinese font for the browser tests…"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei >/dev/null
/usr/bin/chromium --version
