#!/usr/bin/env bash
# Reproduce web/static/vendor/ from the npm registry: download each pinned package's tarball, check it against the
# registry's published sha512 integrity, extract the one file the app serves, and print its sha256 (recorded in
# web/static/vendor/VENDORED.md). Needs curl, tar, sha256sum and python3; nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# vendor PACKAGE VERSION INTEGRITY FILE_IN_TARBALL DESTINATION
vendor() {
  local package="$1" version="$2" integrity="$3" inner="$4" destination="$5"
  local tarball="$work/${package}-${version}.tgz"
  curl --fail --silent --show-error --location \
    "https://registry.npmjs.org/${package}/-/${package}-${version}.tgz" --output "$tarball"
  local actual
  actual="sha512-$(python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
  if [ "$actual" != "$integrity" ]; then
    echo "${package} ${version}: tarball integrity $actual does not match the registry's $integrity" >&2
    exit 1
  fi
  mkdir -p "$work/$package"
  tar -xzf "$tarball" -C "$work/$package" "$inner"
  install -m 0644 "$work/$package/$inner" "web/static/vendor/$destination"
  sha256sum "web/static/vendor/$destination"
}

HTMX_VERSION="2.0.11"
vendor htmx.org "$HTMX_VERSION" "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==" \
  package/dist/htmx.min.js "htmx-${HTMX_VERSION}.min.js"
# The GraphQL explorer (GET /graphql in development): GraphiQL 3's UMD build and the React 18 it runs on.
vendor react 18.3.1 "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==" \
  package/umd/react.production.min.js react-18.3.1.production.min.js
vendor react-dom 18.3.1 "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==" \
  package/umd/react-dom.production.min.js react-dom-18.3.1.production.min.js
vendor graphiql 3.9.0 "sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==" \
  package/graphiql.min.js graphiql-3.9.0.min.js
vendor graphiql 3.9.0 "sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==" \
  package/graphiql.min.css graphiql-3.9.0.min.css
