#!/usr/bin/env bash
# Builds the service image (docker/service.Dockerfile) on a machine without a container registry, on top of
# the registry-free base from scripts/build-node-base-image.sh, then smoke-tests it:
#
#   scripts/build-service-image.sh [image]     (env: SERVICE_IMAGE, NODE_IMAGE, SMOKE=0 to skip the smoke test,
#                                              BUILD=0 to smoke-test an existing image only)
#
# `--network host`: the engine here runs with --bridge=none, and `npm ci` / `apt-get` inside the build need
# the npm registry and the Debian mirror. Docker's layer cache makes a rebuild with an unchanged lockfile
# skip both installs.
#
# Smoke test (no network, no external service): the user is not root; git, tini and the compiled entry point
# are there; no dev dependency was installed; ROLE=all starts (embedded database) and the image's own
# HEALTHCHECK command passes against its /health.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${1:-${SERVICE_IMAGE:-devteam-runner:test}}"
BASE="${NODE_IMAGE:-devteam-node-base:test}"

die() { echo "build-service-image: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
docker version >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running?)"

if [ "$BASE" = "devteam-node-base:test" ]; then
  # builds it, or rebuilds it when it holds another Node release than the pinned one (skips otherwise)
  scripts/build-node-base-image.sh "$BASE"
else
  docker image inspect "$BASE" >/dev/null 2>&1 || die "base image $BASE not found"
fi
# The Node major the production Dockerfile names (ARG NODE_IMAGE=node:<major>-…): the image must run it.
NODE_MAJOR="$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9][0-9]*\)-.*/\1/p' docker/service.Dockerfile)"
[ -n "$NODE_MAJOR" ] || die "docker/service.Dockerfile names no node:<major>-… base"

if [ "${BUILD:-1}" = "1" ]; then
  start=$(date +%s)
  docker build --network host -f docker/service.Dockerfile --build-arg NODE_IMAGE="$BASE" -t "$IMAGE" . \
    || die "docker build failed"
  echo "build-service-image: built $IMAGE in $(($(date +%s) - start)) s"
fi

[ "${SMOKE:-1}" = "1" ] || exit 0

docker run --rm --network none -e WANT_NODE_MAJOR="$NODE_MAJOR" --entrypoint /bin/sh "$IMAGE" -c '
  set -e
  major="$(node -p "process.versions.node.split(\".\")[0]")"
  test "$major" = "$WANT_NODE_MAJOR" || { echo "runs Node $major, the Dockerfile names Node $WANT_NODE_MAJOR" >&2; exit 1; }
  test "$(id -u)" != 0 || { echo "runs as root" >&2; exit 1; }
  git --version >/dev/null
  test -x /usr/bin/tini
  test -f packages/server/dist/bin.js
  for dev in typescript vitest eslint tsx @effect/vitest; do
    test ! -e "node_modules/$dev" || { echo "dev dependency $dev in the image" >&2; exit 1; }
  done
  test -w "$WORKSPACE_DIR" && test -w "$DATA_DIR"
' || die "image checks failed"

secret="$(node -e 'process.stdout.write(require("node:crypto").randomBytes(24).toString("hex"))')"
container="devteam-smoke-$$"
cleanup() { docker rm -f "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT
docker run -d --name "$container" --network none -e ROLE=all -e SANDBOX=local -e AUTH_JWT_SECRET="$secret" "$IMAGE" >/dev/null
# the image's own HEALTHCHECK command, run now instead of waiting for its interval
mapfile -d '' -t check < <(docker inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE" \
  | node -e 'let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => { for (const a of JSON.parse(s) ?? []) process.stdout.write(a + "\0") })')
[ "${check[0]:-}" = "CMD" ] || die "unexpected HEALTHCHECK form: ${check[*]:-none}"
for _ in $(seq 1 60); do
  if docker exec "$container" "${check[@]:1}" 2>/dev/null; then
    echo "build-service-image: smoke test passed (ROLE=all healthy via the image's HEALTHCHECK)"
    exit 0
  fi
  [ "$(docker inspect --format '{{.State.Running}}' "$container")" = "true" ] || break
  sleep 1
done
docker logs --tail 40 "$container" >&2 || true
die "the container did not become healthy (logs above)"
