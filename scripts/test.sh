#!/usr/bin/env bash
# test.sh - the README's test command: installs dependencies and the dataset
# assets (scripts/install-assets.sh), builds Stipple in build/ and runs `make
# check` (unit, kernel, loader, golden-vs-PyTorch and CLI tests), then the
# PyTorch toolkit's tests (`make check-python`). Prints
# the automake summary and one "N passed, N failed" line for both.
#   BUILD_DIR=dir CONFIGURE_FLAGS="--enable-sanitizers" scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
scripts/install-deps.sh
# The dataset generator's real photos, digits and emoji: without them its
# tests (train/tests/test_dataset.py) would skip.
scripts/install-assets.sh >/dev/null
build=${BUILD_DIR:-build}
[ -x configure ] || autoreconf -fi >/dev/null
mkdir -p "$build"
cd "$build"
# shellcheck disable=SC2086
[ -f Makefile ] || "$top/configure" ${CONFIGURE_FLAGS:-} >/dev/null
make -j"$(nproc)" >/dev/null
status=0
make -j"$(nproc)" check || status=$?
py_status=0
py_out=$(make check-python 2>&1) || py_status=$?
echo "$py_out" | tail -20
py_pass=$(echo "$py_out" | grep -oE '[0-9]+ passed' | tail -1 | grep -oE '[0-9]+' || echo 0)
py_fail=$(echo "$py_out" | grep -oE '[0-9]+ (failed|error)' | tail -1 | grep -oE '[0-9]+' || echo 0)
[ "$py_status" -ne 0 ] && [ "$py_fail" -eq 0 ] && py_fail=1
[ "$py_status" -ne 0 ] && status=$py_status
log=test-suite.log
pass=$(sed -n 's/^# PASS: *//p' "$log")
fail=$(sed -n 's/^# FAIL: *//p' "$log")
xpass=$(sed -n 's/^# XPASS: *//p' "$log")
err=$(sed -n 's/^# ERROR: *//p' "$log")
skip=$(sed -n 's/^# SKIP: *//p' "$log")
[ "$status" -ne 0 ] && [ -s "$log" ] && sed -n '/^FAIL\|^ERROR/,$p' "$log" | head -100
echo "$((pass + py_pass)) passed, $((fail + xpass + err + py_fail)) failed, $skip skipped"
exit "$status"
