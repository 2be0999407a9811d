#!/usr/bin/env bash
# Bun and Deno, installed from the npm registry at the versions the README names, and Node: the same program on
# each (examples/runtimes/smoke.mjs). Needs the packages built (`pnpm build`).
set -euo pipefail
cd "$(dirname "$0")/.."
BUN_VERSION=1.4.5
DENO_VERSION=2.9.6
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$prefix" "bun@$BUN_VERSION" "deno@$DENO_VERSION"
cd examples/runtimes
node smoke.mjs
"$prefix/node_modules/.bin/bun" smoke.mjs
"$prefix/node_modules/.bin/deno" run --allow-all smoke.mjs
