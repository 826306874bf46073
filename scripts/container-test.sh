#!/usr/bin/env bash
# container-test.sh - builds the stippled container image with podman and
# checks it end to end: readiness, KServe v2 inference of examples/street.jpg
# that must return boxes of people, POST /detect and /segment, /metrics, the
# image's HEALTHCHECK, that it runs as non-root on a read-only root file
# system with no capabilities, and that SIGTERM (podman stop) drains and exits 0.
#
#   scripts/container-test.sh
#
# Exit status: 0 pass, 1 fail, 77 skip (podman cannot work here; the reason is
# printed). Needs root on Debian 12: installs podman buildah runc debootstrap
# python3-pil when missing (NO_INSTALL=1 skips instead), builds the base image
# localhost/debian:bookworm once (deploy/make-base-image.sh: no registry
# needed), then deploy/Dockerfile.
#
# Environment:
#   IMAGE          the image to build and test (default localhost/stippled:latest)
#   NO_BUILD=1     test IMAGE as it is (no base image, no build)
#   BUILD_ARGS     extra podman build arguments, e.g. "--build-arg MODELS=export"
#   BUILD_TIMEOUT  seconds (default 3600: the first build downloads PyTorch
#                  for the throw-away model stage; later builds hit the cache)
#   READY_TIMEOUT  seconds for /v2/health/ready to turn 200 (default 180)
#   CLEAN_IMAGES=1 remove IMAGE and dangling build layers afterwards
#   CONTAINERS_CONF  default deploy/containers.conf
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$top/deploy/containers.conf}
image=${IMAGE:-localhost/stippled:latest}
ctr=stippled-test-$$
work=$(mktemp -d /tmp/stippled-container-test.XXXXXX)
t0=$(date +%s)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
elapsed() { echo $(($(date +%s) - $1)); }

# shellcheck disable=SC2317  # (called by the EXIT trap)
cleanup() {
	if podman container exists "$ctr" 2>/dev/null; then
		podman logs "$ctr" >"$work/container.log" 2>&1 || true
		podman rm -f -t 0 "$ctr" >/dev/null 2>&1 || true
	fi
	if [ -n "${CLEAN_IMAGES:-}" ]; then
		podman image rm -f "$image" >/dev/null 2>&1 || true
		podman image prune -f >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# ---- can podman work here? ---------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "needs root (rootful podman, debootstrap); run as root"
need=()
command -v podman >/dev/null || need+=(podman)
command -v buildah >/dev/null || need+=(buildah)
command -v runc >/dev/null || need+=(runc)
[ -n "${NO_BUILD:-}" ] || command -v debootstrap >/dev/null || need+=(debootstrap)
/usr/bin/python3 -c 'import PIL' 2>/dev/null || need+=(python3-pil)
if [ ${#need[@]} -gt 0 ]; then
	[ -z "${NO_INSTALL:-}" ] || skip "missing ${need[*]} (NO_INSTALL set)"
	command -v apt-get >/dev/null || skip "missing ${need[*]} and no apt-get"
	echo "container-test: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } \
		>"$work/apt.log" 2>&1 || { tail -5 "$work/apt.log"; skip "apt-get install ${need[*]} failed"; }
fi
podman info >"$work/podman-info.log" 2>&1 || { tail -5 "$work/podman-info.log"; skip "podman info fails: podman is unusable here"; }

# ---- images ------------------------------------------------------------------
if [ -z "${NO_BUILD:-}" ]; then
	t=$(date +%s)
	deploy/make-base-image.sh >"$work/base.log" 2>&1 || {
		cat "$work/base.log"
		skip "cannot build the base image localhost/debian:bookworm (debootstrap/podman import; see above)"
	}
	tail -1 "$work/base.log"
	echo "container-test: base image ready in $(elapsed "$t") s"
fi
# Can podman start a container at all (runtime, cgroups, network)?
probe_image=$image
[ -n "${NO_BUILD:-}" ] || probe_image=localhost/debian:bookworm
podman image exists "$probe_image" || skip "no image $probe_image (NO_BUILD set?)"
podman run --rm --pull=never --network=bridge --entrypoint /bin/sh "$probe_image" -c true >"$work/probe.log" 2>&1 || {
	tail -5 "$work/probe.log"
	skip "podman cannot run a container here (runtime/cgroups/network; see above)"
}

if [ -z "${NO_BUILD:-}" ]; then
	t=$(date +%s)
	echo "container-test: podman build -f deploy/Dockerfile -t $image (log: podman build output below on failure)"
	# shellcheck disable=SC2086
	timeout "${BUILD_TIMEOUT:-3600}" podman build --format docker \
		--ignorefile deploy/Dockerfile.dockerignore -f deploy/Dockerfile -t "$image" \
		${BUILD_ARGS:-} . >"$work/build.log" 2>&1 || {
		tail -40 "$work/build.log"
		fail "podman build failed"
	}
	build_s=$(elapsed "$t")
	ok "image built in $build_s s"
fi
size=$(podman image inspect --format '{{.Size}}' "$image")
ok "image $image: $((size / 1000000)) MB"
user=$(podman image inspect --format '{{.Config.User}}' "$image")
case "$user" in "" | 0 | 0:* | root | root:*) fail "image USER is '$user' (root)" ;; esac
ok "image USER $user"

# ---- run -------------------------------------------------------------------------
t=$(date +%s)
# Like deploy/kubernetes/: read-only root, no capabilities, no privilege gain.
podman run -d --pull=never --name "$ctr" -p 127.0.0.1::8080 --read-only --cap-drop=ALL \
	--security-opt=no-new-privileges "$image" >"$work/run.log" 2>&1 || {
	cat "$work/run.log"
	fail "podman run failed"
}
port=$(podman port "$ctr" 8080/tcp | head -1)
port=${port##*:}
[ -n "$port" ] || fail "no published port for 8080"
base=http://127.0.0.1:$port
ready_timeout=${READY_TIMEOUT:-180}
# wait_ready CONTAINER URL: until GET URL/v2/health/ready answers 200
wait_ready() {
	local code=000
	for _ in $(seq 1 $((ready_timeout * 4))); do
		[ "$(podman inspect --format '{{.State.Running}}' "$1")" = true ] || {
			podman logs "$1" 2>&1 | tail -20
			fail "the container exited before it was ready"
		}
		code=$(/usr/bin/python3 -c 'import sys, urllib.request as u
try: print(u.urlopen(sys.argv[1], timeout=2).status)
except Exception as e: print(getattr(e, "code", "000"))' "$2/v2/health/ready")
		[ "$code" = 200 ] && return 0
		sleep 0.25
	done
	podman logs "$1" 2>&1 | tail -20
	fail "/v2/health/ready is $code after $ready_timeout s"
}
wait_ready "$ctr" "$base"
ok "GET /v2/health/ready 200 after $(elapsed "$t") s (port $port)"

# ---- the round trip -----------------------------------------------------------
# What a client sees: KServe v2 boxes for examples/street.jpg, /detect,
# /segment, /metrics (scripts/container-roundtrip.py).
rt_status=0
/usr/bin/python3 scripts/container-roundtrip.py "$base" || rt_status=1

# ---- non-root, health check ---------------------------------------------------------
uid=$(podman exec "$ctr" id -u 2>/dev/null)
pid1_uid=$(podman exec "$ctr" sh -c 'awk "/^Uid:/ {print \$2}" /proc/1/status' 2>/dev/null)
if [ -n "$uid" ] && [ "$uid" != 0 ] && [ "$pid1_uid" = "$uid" ]; then
	ok "stippled runs as uid $uid (not root)"
else
	echo "FAIL: container uid '$uid', stippled (pid 1) uid '$pid1_uid'"
	rt_status=1
fi
# Without systemd, podman cannot schedule HEALTHCHECK timers (it logs that);
# run the check once by hand.
if podman healthcheck run "$ctr" >"$work/health.log" 2>&1; then
	ok "HEALTHCHECK (stippled-healthcheck) passes"
else
	cat "$work/health.log"
	echo "FAIL: HEALTHCHECK fails"
	rt_status=1
fi

# ---- SIGTERM: drain and exit 0 ---------------------------------------------------------
# One inference in flight when SIGTERM arrives must still be answered 200.
cat >"$work/inflight.py" <<'PY'
import base64, io, json, sys, urllib.request
from PIL import Image
buf = io.BytesIO()
Image.new("RGB", (320, 240), (90, 140, 200)).save(buf, format="JPEG")
model = json.load(urllib.request.urlopen(sys.argv[1] + "/v1/models", timeout=10))["default"]
body = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                               "data": [base64.b64encode(buf.getvalue()).decode()]}],
                   "parameters": {"sparsity_budget": 1.0, "binary_data_output": True}}).encode()
r = urllib.request.Request(sys.argv[1] + "/v2/models/%s/infer" % model, data=body,
                           headers={"Content-Type": "application/json"})
print("in-flight request:", urllib.request.urlopen(r, timeout=120).status)
PY
/usr/bin/python3 "$work/inflight.py" "$base" >"$work/inflight.log" 2>&1 &
inflight_pid=$!
# until the daemon counts it in flight (or 2 s)
for _ in $(seq 1 40); do
	/usr/bin/python3 -c 'import sys, urllib.request as u
sys.exit("stipple_in_flight 1" not in u.urlopen(sys.argv[1] + "/metrics", timeout=2).read().decode())' \
		"$base" 2>/dev/null && break
	sleep 0.05
done
t=$(date +%s)
podman stop -t 60 "$ctr" >/dev/null 2>&1
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$ctr")
podman logs "$ctr" >"$work/container.log" 2>&1
if [ "$exit_code" = 0 ] && grep -q "SIGTERM: shutting down" "$work/container.log"; then
	ok "podman stop (SIGTERM): drained, exit code 0 in $(elapsed "$t") s"
else
	tail -20 "$work/container.log"
	echo "FAIL: after SIGTERM the exit code is $exit_code"
	rt_status=1
fi
if wait "$inflight_pid" && grep -q "in-flight request: 200" "$work/inflight.log"; then
	ok "the request in flight at SIGTERM was answered 200 (log: $(grep -o 'draining: .*' "$work/container.log" | head -1))"
else
	cat "$work/inflight.log"
	echo "FAIL: the request in flight at SIGTERM was not answered 200"
	rt_status=1
fi

# ---- a model repository mounted at /models --------------------------------------------
# The baked-in model, copied out and mounted read-only under another name and
# version: the image serves whatever repository is mounted over /models.
if [ "$rt_status" -eq 0 ]; then
	t=$(date +%s)
	mkdir -p "$work/repo/mounted/2"
	podman cp "$ctr:/models/." "$work/baked" >/dev/null 2>&1
	model_file=$(find "$work/baked" -name model.stp | head -1)
	if [ -z "$model_file" ]; then
		echo "FAIL: no model.stp under the image's /models"
		rt_status=1
	else
		mv "$model_file" "$work/repo/mounted/2/model.stp"
		chmod -R a+rX "$work/repo"
		podman rm -f -t 0 "$ctr" >/dev/null 2>&1
		podman run -d --pull=never --name "$ctr" -p 127.0.0.1::8080 --read-only --cap-drop=ALL \
			--security-opt=no-new-privileges -v "$work/repo:/models:ro" "$image" >"$work/run2.log" 2>&1 ||
			{ cat "$work/run2.log"; fail "podman run with -v REPO:/models failed"; }
		port=$(podman port "$ctr" 8080/tcp | head -1)
		base=http://127.0.0.1:${port##*:}
		wait_ready "$ctr" "$base"
		if /usr/bin/python3 -c 'import json, sys, urllib.request as u
d = json.load(u.urlopen(sys.argv[1] + "/v1/models", timeout=5))
sys.exit(not (d["default"] == "mounted" and [(m["name"], m["version"], m["state"]) for m in d["models"]] == [("mounted", "2", "READY")]))' "$base"; then
			ok "a repository mounted with -v DIR:/models:ro serves model 'mounted' version 2 (ready in $(elapsed "$t") s)"
		else
			echo "FAIL: the mounted repository is not what /v1/models lists"
			rt_status=1
		fi
		podman stop -t 60 "$ctr" >/dev/null 2>&1
	fi
fi

echo "container-test: image $image $((size / 1000000)) MB, total $(elapsed "$t0") s"
if [ "$rt_status" -ne 0 ]; then
	echo "container log (last 30 lines):"
	tail -30 "$work/container.log"
	echo "FAIL"
	exit 1
fi
echo "PASS"
exit 0
