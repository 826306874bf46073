#!/usr/bin/env bash
# run-web-test.sh - `make check` entry for the page at GET /: starts the
# real daemon on the bundled models and drives the page in headless
# Chromium with playwright-core (tests/integration/web-test.js): upload,
# budget slider, model, mask and sampling. Exit 77 (skip, with the reason)
# without Debian's chromium, node or playwright-core (scripts/install-deps.sh
# installs the first two, scripts/install-assets.sh the third, in
# $STIPPLE_ASSETS/web-test). The screenshot goes to $WEB_TEST_OUT when set.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
assets=${STIPPLE_ASSETS:-$HOME/.cache/stipple/assets}
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$top_builddir/stippled" ] || { echo "stippled not built"; exit 99; }
[ -x "$chromium" ] || { echo "SKIP: no Chromium at $chromium (apt-get install chromium)"; exit 77; }
command -v node >/dev/null || { echo "SKIP: no node (apt-get install nodejs)"; exit 77; }
modules=$assets/web-test/node_modules
[ -d "$modules/playwright-core" ] ||
	{ echo "SKIP: no playwright-core in $modules (scripts/install-assets.sh)"; exit 77; }
work=$(mktemp -d) || exit 99
daemon=
cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
"$top_builddir/stippled" --listen 127.0.0.1:0 --models "$top_srcdir/models" >"$work/access.log" \
	2>"$work/daemon.log" &
daemon=$!
port=
for _ in $(seq 1 600); do
	port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/daemon.log" | head -1)
	[ -n "$port" ] && break
	kill -0 "$daemon" 2>/dev/null || break
	sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: stippled did not start"; cat "$work/daemon.log"; exit 1; }
# wait for the models
for _ in $(seq 1 600); do
	node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
		"http://127.0.0.1:$port/v2/health/ready" && break
	sleep 0.1
done
out=${WEB_TEST_OUT:-$work}
NODE_PATH=$modules node "$top_srcdir/tests/integration/web-test.js" "http://127.0.0.1:$port/" \
	"$top_srcdir/examples/street.jpg" "$top_srcdir/examples/scene.jpg" "$out" "$chromium"
