#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (the console and the HTML report are
# loaded headless by the test suite).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
command -v chromium
