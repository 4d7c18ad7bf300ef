#!/usr/bin/env bash
# Make sure a Chinese TrueType font is on this machine for the 承办单 PDF (minsheng/case_sheet.py):
# Debian's fonts-wqy-zenhei, installed from the Debian archive when missing. Nothing is
# downloaded at run time; ReportLab embeds the glyphs it uses in each PDF.
set -euo pipefail
if [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] \
   || fc-list :lang=zh file 2>/dev/null | grep -qiE '\.tt[fc]'; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing fonts-wqy-zenhei for the 承办单 PDF…"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq fonts-wqy-zenhei >/dev/null
