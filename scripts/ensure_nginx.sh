#!/usr/bin/env bash
# Make sure Debian's nginx is present for the scale-out topology (minsheng/topology.py,
# tests/scaleout, make bench-scale-out). Installs it from the Debian archive when missing;
# the package's own service is not used: the topology runs its own nginx under supervisord.
set -euo pipefail
if [ -x /usr/sbin/nginx ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing nginx for the scale-out tests…"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq nginx >/dev/null
/usr/sbin/nginx -v
