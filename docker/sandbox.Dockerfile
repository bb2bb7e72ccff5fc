# The production sandbox image: Node 20, git, aider (pip, in a virtualenv), a non-root user.
#   docker build -f docker/sandbox.Dockerfile -t devteam-sandbox:latest .
#   SANDBOX_IMAGE=devteam-sandbox:latest
# Containers are run by the runner with `--init` (HostConfig.Init: zombie reaping), the workspace
# bind-mounted at /workspace (nothing else from the host), uid 1000, all capabilities dropped,
# no-new-privileges, CPU / memory / pids limits and network mode from configuration.
# For tests without a registry see scripts/build-sandbox-image.sh (devteam-sandbox:test).
FROM node:20-bookworm-slim

# Pinned; override with --build-arg AIDER_VERSION=… (not verified against PyPI from this machine).
ARG AIDER_VERSION=0.86.1

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
    AIDER_ANALYTICS=false

USER runner
WORKDIR /workspace
# No init of its own: the runner starts every container with --init (docker-init reaps zombies).
CMD ["sleep", "infinity"]
