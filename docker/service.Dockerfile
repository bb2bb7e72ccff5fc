# DevTeam Runner service image: one image for every role (ROLE=all | gateway | runner | migrate).
#
#   docker build -f docker/service.Dockerfile -t devteam-runner:latest .
#   docker build --network host -f docker/service.Dockerfile \
#     --build-arg NODE_IMAGE=devteam-node-base:test -t devteam-runner:test .   # no registry: scripts/build-service-image.sh
#
# Stages: deps (every dependency, for the compiler) → build (`npm run build`: tsc -b into packages/*/dist)
# → prod-deps (`npm ci --omit=dev`) → runtime (prod node_modules + compiled dist + package.json files,
# git and tini, non-root uid 1000). The context is the repository root (see .dockerignore).
# No BuildKit-only syntax, so the classic builder works too; no `# syntax=` line, which would pull a frontend.

ARG NODE_IMAGE=node:26-bookworm-slim

# ---- deps: the full dependency tree (dev dependencies included), cached on the lockfile ---------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY packages/domain/package.json packages/domain/
COPY packages/runtime/package.json packages/runtime/
COPY packages/runner/package.json packages/runner/
COPY packages/server/package.json packages/server/
COPY packages/client-sdk/package.json packages/client-sdk/
RUN npm ci --no-audit --no-fund

# ---- build: compile every package into packages/*/dist -----------------------------------------------------
FROM deps AS build
COPY . .
RUN npm run build \
  && test -f packages/server/dist/bin.js

# ---- prod-deps: production dependencies only (workspace links included) ------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY packages/domain/package.json packages/domain/
COPY packages/runtime/package.json packages/runtime/
COPY packages/runner/package.json packages/runner/
COPY packages/server/package.json packages/server/
COPY packages/client-sdk/package.json packages/client-sdk/
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force

# ---- runtime -----------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# git: the runner shells out to it; tini: PID 1 that forwards signals and reaps git/tool children.
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates tini \
  && rm -rf /var/lib/apt/lists/*
# uid/gid 1000 (the official image's `node`; created when the base lacks it): the same uid as the sandbox
# image's user, so sandbox containers and the runner can both write the bind-mounted workspaces.
RUN (getent group 1000 >/dev/null || groupadd -g 1000 node) \
  && (getent passwd 1000 >/dev/null || useradd -m -u 1000 -g 1000 -s /bin/sh node) \
  && install -d -o 1000 -g 1000 /var/lib/devteam /var/lib/devteam/data /var/lib/devteam/workspaces
WORKDIR /app
# Owned by root and read-only for the service user: the process cannot modify its own code. The compiled
# packages the server runs (it and its @devteam dependencies; the client SDK is not one of them).
COPY --from=prod-deps /app ./
COPY --from=build /app/packages/domain/dist packages/domain/dist
COPY --from=build /app/packages/runtime/dist packages/runtime/dist
COPY --from=build /app/packages/runner/dist packages/runner/dist
COPY --from=build /app/packages/server/dist packages/server/dist

ENV NODE_ENV=production \
    ROLE=all \
    DEVTEAM_RUNNER_HOST=0.0.0.0 \
    DEVTEAM_RUNNER_PORT=8080 \
    RUNNER_LISTEN_HOST=0.0.0.0 \
    RUNNER_PORT=34431 \
    DATA_DIR=/var/lib/devteam/data \
    WORKSPACE_DIR=/var/lib/devteam/workspaces \
    LOG_FORMAT=json

USER 1000:1000
EXPOSE 8080 34431

# gateway / all: GET /health must answer 2xx (503 = a required dependency is down). runner: it serves no HTTP,
# so its cluster port must accept connections. Node's own fetch/net: no curl in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const r = process.env.ROLE || 'all'; if (r === 'runner') { const s = require('node:net').connect(Number(process.env.RUNNER_PORT || 34431), '127.0.0.1', () => { s.end(); process.exit(0) }); s.on('error', () => process.exit(1)) } else { fetch('http://127.0.0.1:' + (process.env.DEVTEAM_RUNNER_PORT || 8080) + '/health', { signal: AbortSignal.timeout(4000) }).then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1)) }"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "packages/server/dist/bin.js"]
