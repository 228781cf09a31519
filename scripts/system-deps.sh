#!/usr/bin/env bash
# Debian packages the test suite needs: headless Chromium (page tests), poppler-utils
# (pdftoppm, to rasterise printed reports), CJK fonts (Chinese text in PDFs and screenshots) and
# an emoji font (the H5 service tiles use emoji icons, as phones render them), libfaketime
# (CI reruns the date-sensitive tests with the whole stack moved far ahead) and wrk (bench/).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need+=(fonts-noto-cjk)
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing Debian packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
