#!/usr/bin/env bash
# test.sh - the README's test command: installs dependencies, builds Stipple
# in build/ and runs `make check` (unit, kernel, loader, golden-vs-PyTorch and
# CLI tests). Prints the automake summary and one "N passed, N failed" line.
#   BUILD_DIR=dir CONFIGURE_FLAGS="--enable-sanitizers" scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
scripts/install-deps.sh
build=${BUILD_DIR:-build}
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p "$build"
cd "$build"
# shellcheck disable=SC2086
[ -f Makefile ] || "$top/configure" ${CONFIGURE_FLAGS:-} >/dev/null
make -j"$(nproc)" >/dev/null
status=0
make -j"$(nproc)" check || status=$?
log=test-suite.log
pass=$(sed -n 's/^# PASS: *//p' "$log")
fail=$(sed -n 's/^# FAIL: *//p' "$log")
xpass=$(sed -n 's/^# XPASS: *//p' "$log")
err=$(sed -n 's/^# ERROR: *//p' "$log")
skip=$(sed -n 's/^# SKIP: *//p' "$log")
[ "$status" -ne 0 ] && [ -s "$log" ] && sed -n '/^FAIL\|^ERROR/,$p' "$log" | head -100
echo "$pass passed, $((fail + xpass + err)) failed, $skip skipped"
exit "$status"
