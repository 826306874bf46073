#!/usr/bin/env bash
# install-deps.sh - installs what Stipple needs to build and test on Debian 12
# (run as root). Idempotent: packages already present are left as they are.
# Chromium, node and npm drive the web page's test in a headless browser
# (tests/integration/run-web-test.sh) and run the TF.js reference.
#   --bench   also the benchmark peers' system packages
set -euo pipefail

packages=(
	build-essential autoconf automake libtool pkg-config
	libjansson-dev libmicrohttpd-dev libturbojpeg0-dev libpng-dev
	python3 python3-torch python3-numpy python3-onnx python3-pytest python3-pip python3-venv
	python3-pil python3-yaml python3-jsonschema python3-torchvision
	clang libclang-rt-14-dev
	chromium
)
# node and npm: Debian's, unless the machine has them already (a NodeSource
# nodejs carries its own npm, which Debian's npm package conflicts with)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if [ "${1:-}" = "--bench" ]; then
	packages+=(util-linux)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
