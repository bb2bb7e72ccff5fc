# The production sandbox image: Node 26 (the current LTS), git, the coding agents aider (pip, in a virtualenv) and
# Claude Code (npm), both pinned, a non-root user.
#   docker build -f docker/sandbox.Dockerfile -t devteam-sandbox:latest .
#   SANDBOX_IMAGE=devteam-sandbox:latest
# Containers are run by the runner with `--init` (HostConfig.Init: zombie reaping), the workspace
# bind-mounted at /workspace (nothing else from the host), uid 1000, all capabilities dropped,
# no-new-privileges, CPU / memory / pids limits and network mode from configuration (default none:
# the only way out is the runner's egress proxy, reached through a forwarder the runner mounts).
# For tests without a registry see scripts/build-sandbox-image.sh (devteam-sandbox:test).
FROM node:26-bookworm-slim

# Pinned; override with --build-arg AIDER_VERSION=… (not verified against PyPI from this machine).
ARG AIDER_VERSION=0.86.1
# Pinned to the version the claude-code tool adapter is tested against (scripts/build-sandbox-image.sh
# installs the same one into the test image).
ARG CLAUDE_CODE_VERSION=2.1.112

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates python3 python3-venv python3-pip \
 && rm -rf /var/lib/apt/lists/*

# aider in its own virtualenv (Debian's Python is externally managed, PEP 668).
RUN python3 -m venv /opt/aider \
 && /opt/aider/bin/pip install "aider-chat==${AIDER_VERSION}" \
 && ln -s /opt/aider/bin/aider /usr/local/bin/aider \
 && aider --version

# Claude Code from the npm registry (its optional image-processing binaries are not needed).
RUN npm install -g --omit=optional --no-audit --no-fund "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
 && npm cache clean --force \
 && claude --version

# The base image's `node` user holds uid 1000: rename it to `runner`. The workspace is
# bind-mounted from the host and owned by another uid: let git work in it. aider must not phone
# home (its home-directory config is ours, not the repository's).
RUN groupmod -n runner node \
 && usermod -l runner -d /home/runner -m node \
 && mkdir -p /workspace \
 && chown runner:runner /workspace \
 && git config --system --add safe.directory '*' \
 && printf 'check-update: false\nanalytics: false\n' > /home/runner/.aider.conf.yml \
 && chown runner:runner /home/runner/.aider.conf.yml

ENV HOME=/home/runner \
    AIDER_CHECK_UPDATE=false \
    AIDER_ANALYTICS=false \
    DISABLE_AUTOUPDATER=1

USER runner
WORKDIR /workspace
# No init of its own: the runner starts every container with --init (docker-init reaps zombies).
CMD ["sleep", "infinity"]
