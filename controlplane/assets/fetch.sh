#!/usr/bin/env bash
# Fetches the assets of the control plane's GraphiQL page (GET /graphql) from the npm registry
# into graphiql/, with their licences, and checks them against graphiql/SHA256SUMS. The files
# are committed and embedded in the binary (controlplane/src/api/graphiql.rs), so the page
# works with no internet access; run this only to change a version, then update SHA256SUMS
# (`sha256sum` of the files it lists) and the versions in graphiql.rs.
#
# GraphiQL 4.1.2 is the last line with single-file UMD builds (5.x needs a bundler for Monaco).
# Its bundle already contains graphql-ws (the `graphql-transport-ws` client it uses when given
# `subscriptionUrl`) and graphql-js; graphql-ws's licence is copied for that reason.
set -euo pipefail
cd "$(dirname "$0")"
out=graphiql
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent graphiql@4.1.2 react@18.3.1 react-dom@18.3.1 graphql-ws@5.16.2 >/dev/null)
for tarball in "$tmp"/*.tgz; do
  name=$(basename "$tarball" .tgz)
  mkdir -p "$tmp/$name"
  tar -xzf "$tarball" -C "$tmp/$name"
done

cp "$tmp/graphiql-4.1.2/package/graphiql.min.js" "$out/graphiql.min.js"
cp "$tmp/graphiql-4.1.2/package/graphiql.min.css" "$out/graphiql.min.css"
cp "$tmp/graphiql-4.1.2/package/LICENSE" "$out/LICENSE.graphiql"
cp "$tmp/react-18.3.1/package/umd/react.production.min.js" "$out/react.production.min.js"
cp "$tmp/react-18.3.1/package/LICENSE" "$out/LICENSE.react"
cp "$tmp/react-dom-18.3.1/package/umd/react-dom.production.min.js" "$out/react-dom.production.min.js"
cp "$tmp/react-dom-18.3.1/package/LICENSE" "$out/LICENSE.react-dom"
cp "$tmp/graphql-ws-5.16.2/package/LICENSE.md" "$out/LICENSE.graphql-ws"

(cd "$out" && sha256sum --check --quiet SHA256SUMS)
echo "graphiql assets fetched and verified in $(pwd)/$out"
