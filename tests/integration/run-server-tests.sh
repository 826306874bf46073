#!/usr/bin/env bash
# run-server-tests.sh - `make check` entry for the stippled integration tests
# (tests/integration/test_server.py): the real daemon, real HTTP, replies
# validated against proto/openapi.yaml. Exit 77 (skip) without a Python that
# has torch, numpy, PIL, yaml and jsonschema.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
PYTHON_TORCH=${PYTHON_TORCH:-/usr/bin/python3}
[ -x "$top_builddir/stippled" ] || { echo "stippled not built"; exit 99; }
"$PYTHON_TORCH" -c 'import torch, numpy, PIL, yaml, jsonschema' 2>/dev/null || {
	echo "SKIP: $PYTHON_TORCH lacks torch, numpy, PIL, yaml or jsonschema (scripts/install-deps.sh)"
	exit 77
}
work=$(mktemp -d) || exit 99
trap 'rm -rf "$work"' EXIT
PYTHONPATH="$top_srcdir/tests/integration${PYTHONPATH:+:$PYTHONPATH}" \
	"$PYTHON_TORCH" "$top_srcdir/tests/integration/test_server.py" \
	"$top_builddir/stippled" "$top_srcdir" "$work"
