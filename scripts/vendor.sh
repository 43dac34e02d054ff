#!/usr/bin/env bash
# Reproduce web/static/vendor/ (and the test-only axe-core) from the npm registry: download each pinned package's
# tarball, check it against the registry's published sha512 integrity, extract the one file used, and print its
# sha256 (recorded in web/static/vendor/VENDORED.md). Needs curl, tar, sha256sum and python3; nothing is installed.
# The output is checked in, so the admin renders (and the browser tests run) with no network at all.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# vendor <npm tarball url> <sha512 integrity> <file inside the tarball> <destination>
vendor() {
  local url="$1" integrity="$2" inside="$3" destination="$4"
  local tarball="$work/package.tgz"
  curl --fail --silent --show-error --location "$url" --output "$tarball"
  local actual
  actual="sha512-$(python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
  if [ "$actual" != "$integrity" ]; then
    echo "$url: tarball integrity $actual does not match the registry's $integrity" >&2
    exit 1
  fi
  rm -rf "$work/package"
  tar -xzf "$tarball" -C "$work" "$inside"
  install -D -m 0644 "$work/$inside" "$destination"
  sha256sum "$destination"
}

HTMX_VERSION="2.0.11"
vendor "https://registry.npmjs.org/htmx.org/-/htmx.org-${HTMX_VERSION}.tgz" \
  "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==" \
  package/dist/htmx.min.js "web/static/vendor/htmx-${HTMX_VERSION}.min.js"

POLARIS_VERSION="13.9.5"
vendor "https://registry.npmjs.org/@shopify/polaris/-/polaris-${POLARIS_VERSION}.tgz" \
  "sha512-UN+rT2q1r/uF0Xia8MaCl2nDxatuzbjunS5WYcv4qw8VBvThTxDVURgpwOuvutSrvu138pwScOAah933vqlYkg==" \
  package/build/esm/styles.css "web/static/vendor/polaris-${POLARIS_VERSION}.css"

CHARTJS_VERSION="4.6.1"
vendor "https://registry.npmjs.org/chart.js/-/chart.js-${CHARTJS_VERSION}.tgz" \
  "sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==" \
  package/dist/chart.umd.min.js "web/static/vendor/chart-${CHARTJS_VERSION}.umd.min.js"

# Test-only: the browser tests inject axe-core into every admin page (never served by the app).
AXE_VERSION="4.14.1"
vendor "https://registry.npmjs.org/axe-core/-/axe-core-${AXE_VERSION}.tgz" \
  "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==" \
  package/axe.min.js "tests/admin/browser/vendor/axe-${AXE_VERSION}.min.js"

# The GraphQL explorer (GET /graphql in development): GraphiQL 3's UMD build and the React 18 it runs on.
vendor "https://registry.npmjs.org/react/-/react-18.3.1.tgz" \
  "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==" \
  package/umd/react.production.min.js "web/static/vendor/react-18.3.1.production.min.js"
vendor "https://registry.npmjs.org/react-dom/-/react-dom-18.3.1.tgz" \
  "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==" \
  package/umd/react-dom.production.min.js "web/static/vendor/react-dom-18.3.1.production.min.js"
vendor "https://registry.npmjs.org/graphiql/-/graphiql-3.9.0.tgz" \
  "sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==" \
  package/graphiql.min.js "web/static/vendor/graphiql-3.9.0.min.js"
vendor "https://registry.npmjs.org/graphiql/-/graphiql-3.9.0.tgz" \
  "sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==" \
  package/graphiql.min.css "web/static/vendor/graphiql-3.9.0.min.css"
