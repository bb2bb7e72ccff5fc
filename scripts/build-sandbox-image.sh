#!/usr/bin/env bash
# Builds the registry-free sandbox test image (default `devteam-sandbox:test`): a Debian bookworm
# minbase root filesystem with git + ca-certificates (debootstrap), this machine's node + npm copied
# in, the npm coding agent (@anthropic-ai/claude-code, pinned) installed from the npm registry, a
# non-root user `runner` (uid 1000), imported with `docker import`. No container registry is
# contacted (only Debian's mirror and the npm registry, each once: both are cached).
# The local CA certificates this machine trusts (EXTRA_CA_DIR, default /usr/local/share/ca-certificates:
# e.g. a TLS-inspecting egress proxy's) are trusted in the image too — system store and node
# (NODE_EXTRA_CA_CERTS) — so VERIFY's installs reach the registry from the sandbox as the host's npm does.
#
#   scripts/build-sandbox-image.sh [image]   (env: DEVTEAM_CACHE_DIR, CLAUDE_CODE_VERSION, EXTRA_CA_DIR, FORCE=1)
#
# Skips when the image already exists with this agent version and these CAs (FORCE=1 rebuilds). The
# debootstrapped base and the installed agent are cached as tarballs under $DEVTEAM_CACHE_DIR
# (default /var/cache/devteam) so a rebuild takes seconds.
# The Debian mirror is read from /etc/apt/sources.list.d/debian.sources (or /etc/apt/sources.list).
# (SANDBOX_IMAGE is not read: it names the production image the runner uses.)
set -euo pipefail

IMAGE="${1:-devteam-sandbox:test}"
# The version the claude-code tool adapter is tested against (packages/runtime/src/ClaudeCodeTool.ts).
CLAUDE_CODE_VERSION="${CLAUDE_CODE_VERSION:-2.1.112}"
AGENT="@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION"
CACHE_DIR="${DEVTEAM_CACHE_DIR:-/var/cache/devteam}"
SUITE="${DEBIAN_SUITE:-bookworm}"
# libatomic1: the Node.js project's linux-x64 builds of Node 26 link it (node-dist.sh)
BASE_TAR="$CACHE_DIR/rootfs-$SUITE-minbase-git-libatomic1.tar"

die() { echo "build-sandbox-image: $*" >&2; exit 1; }

EXTRA_CA_DIR="${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"
ca_files() { [ -d "$EXTRA_CA_DIR" ] && find "$EXTRA_CA_DIR" -maxdepth 2 -name '*.crt' -print0 | sort -z; }
# which local CAs the image trusts (a label: a change rebuilds it)
CAS="$( (ca_files | xargs -0 -r cat) | sha256sum | cut -c1-16)"

command -v docker >/dev/null || die "docker CLI not found"
docker version >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-unset})"

if [ "${FORCE:-0}" != "1" ] \
  && [ "$(docker image inspect -f '{{index .Config.Labels "devteam.sandbox.agent"}} {{index .Config.Labels "devteam.sandbox.cas"}}' "$IMAGE" 2>/dev/null)" = "$AGENT $CAS" ]; then
  echo "build-sandbox-image: $IMAGE already exists with $AGENT and these CAs (FORCE=1 to rebuild)"
  exit 0
fi

[ "$(id -u)" = "0" ] || die "must run as root (debootstrap, chroot and file ownership need it)"
NODE_BIN="$(command -v node)" || die "node not found on this machine"
NPM_DIR=""
for d in "$(dirname "$(readlink -f "$NODE_BIN")")/../lib/node_modules/npm" /usr/lib/node_modules/npm /usr/local/lib/node_modules/npm; do
  if [ -f "$d/bin/npm-cli.js" ]; then NPM_DIR="$(readlink -f "$d")"; break; fi
done
[ -n "$NPM_DIR" ] || die "npm's package directory not found (looked next to $NODE_BIN and in /usr/lib, /usr/local/lib)"

mkdir -p "$CACHE_DIR" || die "cannot create cache directory $CACHE_DIR (set DEVTEAM_CACHE_DIR)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/devteam-sandbox-rootfs.XXXXXX")"
cleanup() { rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT

if [ ! -s "$BASE_TAR" ]; then
  command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install -y debootstrap)"
  MIRROR=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    MIRROR="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$MIRROR" ] && [ -f /etc/apt/sources.list ]; then
    MIRROR="$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)"
  fi
  [ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  echo "build-sandbox-image: debootstrap $SUITE from $MIRROR (cached afterwards in $BASE_TAR)"
  debootstrap --variant=minbase --include=git,ca-certificates,libatomic1 "$SUITE" "$WORK/base" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  rm -rf "$WORK/base/var/cache/apt/archives/"*.deb "$WORK/base/var/lib/apt/lists/"* || true
  tar -C "$WORK/base" --numeric-owner -cf "$BASE_TAR.tmp" . || die "cannot write $BASE_TAR"
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf --one-file-system "$WORK/base"
fi

# The npm agent, installed once with this machine's npm into a staging prefix and cached.
AGENT_TAR="$CACHE_DIR/agent-claude-code-$CLAUDE_CODE_VERSION.tar"
if [ ! -s "$AGENT_TAR" ]; then
  echo "build-sandbox-image: npm install -g $AGENT (cached afterwards in $AGENT_TAR)"
  mkdir -p "$WORK/agent"
  npm install -g --prefix "$WORK/agent" --cache "$CACHE_DIR/npm" --no-audit --no-fund --omit=optional "$AGENT" \
    >"$WORK/npm.log" 2>&1 || { tail -n 30 "$WORK/npm.log" >&2; die "npm install $AGENT failed (log above)"; }
  tar -C "$WORK/agent" --numeric-owner --owner=0 --group=0 -cf "$AGENT_TAR.tmp" . || die "cannot write $AGENT_TAR"
  mv "$AGENT_TAR.tmp" "$AGENT_TAR"
fi

ROOT="$WORK/root"
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xf "$BASE_TAR" || die "cannot unpack $BASE_TAR (delete it to rebuild)"
install -m 0755 "$NODE_BIN" "$ROOT/usr/local/bin/node"
mkdir -p "$ROOT/usr/local/lib/node_modules"
cp -r "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
tar -C "$ROOT/usr/local" --numeric-owner -xf "$AGENT_TAR" || die "cannot unpack $AGENT_TAR (delete it to reinstall)"
chroot "$ROOT" /bin/sh -c 'id -u runner >/dev/null 2>&1 || useradd -m -u 1000 -s /bin/sh runner' || die "useradd failed"
# The workspace is bind-mounted from the host and owned by another uid: let git work in it.
printf '[safe]\n\tdirectory = *\n' > "$ROOT/etc/gitconfig"
# the local CAs this machine trusts (public certificates only)
if [ -n "$(ca_files | tr -d '\0')" ]; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  ca_files | xargs -0 -r cp -t "$ROOT/usr/local/share/ca-certificates/"
  chroot "$ROOT" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the root filesystem"
  echo "build-sandbox-image: trusting the local CAs of $EXTRA_CA_DIR"
fi
mkdir -p "$ROOT/workspace"
chown 1000:1000 "$ROOT/workspace"
chroot "$ROOT" /usr/local/bin/node --version >/dev/null || die "the copied node does not run inside the root filesystem"

OLD_ID="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
echo "build-sandbox-image: importing $IMAGE"
tar -C "$ROOT" --numeric-owner -c . | docker import \
  -c 'USER runner' \
  -c 'WORKDIR /workspace' \
  -c 'ENV HOME=/home/runner PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  -c 'LABEL devteam.sandbox.image=test' \
  -c "LABEL devteam.sandbox.agent=$AGENT" \
  -c "LABEL devteam.sandbox.cas=$CAS" \
  - "$IMAGE" >/dev/null || die "docker import failed"

docker run --rm --init --network none "$IMAGE" sh -c 'test "$(id -u)" = 1000 && git --version >/dev/null && node --version >/dev/null && claude --version >/dev/null' \
  || die "the imported image $IMAGE fails its smoke test (uid 1000, git, node, claude)"
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  docker image rm "$OLD_ID" >/dev/null 2>&1 || true   # the replaced image, unless a container still uses it
fi
echo "build-sandbox-image: built $IMAGE"
