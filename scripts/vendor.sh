#!/usr/bin/env bash
# Reproduce web/static/vendor/ from the npm registry: download each pinned package's tarball, check it against the
# registry's published sha512 integrity, extract the one file the admin serves, and print its sha256 (recorded in
# web/static/vendor/VENDORED.md). Needs curl, tar, sha256sum and python3; nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

HTMX_VERSION="2.0.11"
HTMX_INTEGRITY="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

tarball="$work/htmx.tgz"
curl --fail --silent --show-error --location \
  "https://registry.npmjs.org/htmx.org/-/htmx.org-${HTMX_VERSION}.tgz" --output "$tarball"
actual="sha512-$(python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
if [ "$actual" != "$HTMX_INTEGRITY" ]; then
  echo "htmx.org ${HTMX_VERSION}: tarball integrity $actual does not match the registry's $HTMX_INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist/htmx.min.js
install -m 0644 "$work/package/dist/htmx.min.js" "web/static/vendor/htmx-${HTMX_VERSION}.min.js"
sha256sum "web/static/vendor/htmx-${HTMX_VERSION}.min.js"
