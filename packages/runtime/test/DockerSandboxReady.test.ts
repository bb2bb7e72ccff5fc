/**
 * The docker sandbox is handed out once its egress forwarder (the container's main process)
 * reports ready over the proxy's socket: listening, git and node present. Misbuilt images —
 * derived from the test image: without git, without node, with a `node` that never starts the forwarder, with
 * one that exits at once — fail with the health message, within the start timeout.
 */
import * as DockerSandbox from "@devteam/runtime/DockerSandbox"
import { labels } from "@devteam/runtime/Sandbox"
import { assert, describe, it } from "@effect/vitest"
import Docker from "dockerode"
import { Duration, Effect, Exit } from "effect"
import * as fs from "node:fs/promises"
import { tempRepo } from "./fixtures/repos.js"
import {
  dockerSettings,
  ensureImage,
  newIds,
  redactor,
  tempWorkspace,
  testImage,
  uniqueOwner
} from "./fixtures/sandboxes.js"

const docker = new Docker({ socketPath: "/var/run/docker.sock" })

/** The test image with `script` run as root on it (removed with the scope). */
const derivedImage = (name: string, script: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      ensureImage()
      const tag = `${name}-${process.pid}`
      const container = await docker.createContainer({
        Image: testImage,
        User: "0",
        Cmd: ["sh", "-c", script],
        HostConfig: { NetworkMode: "none" }
      })
      try {
        await container.start()
        const { StatusCode } = await container.wait()
        if (StatusCode !== 0) throw new Error(`deriving ${name}: exit ${StatusCode}`)
        await container.commit({ repo: "devteam-sandbox", tag })
      } finally {
        await container.remove({ force: true })
      }
      return `devteam-sandbox:${tag}`
    }),
    (image) => Effect.promise(() => docker.getImage(image).remove({ force: true }).catch(() => undefined))
  )

/** Acquires (and releases) a sandbox of `image`; the acquire's exit. */
const acquireWith = (image: string, startTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    const owner = uniqueOwner("ready")
    const sandbox = yield* DockerSandbox.make({ ...dockerSettings(owner), image, startTimeout }).pipe(
      Effect.provide(redactor)
    )
    const workspacePath = yield* tempWorkspace()
    const exit = yield* Effect.exit(Effect.scoped(sandbox.acquire({ ...newIds(), workspacePath })))
    // nothing left behind: the release removed the container
    const left = yield* Effect.promise(() =>
      docker.listContainers({ all: true, filters: { label: [`${labels.owner}=${owner}`] } })
    )
    return { exit, left: left.length }
  })

const failureMessage = (exit: Exit.Exit<unknown, { readonly message: string }>): string =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.message : `not a failure: ${String(exit)}`

describe("DockerSandbox readiness", { timeout: 180_000 }, () => {
  it.scopedLive("handed out ready: the forwarder listens and the scratch directory exists at the first exec", () =>
    Effect.gen(function*() {
      ensureImage()
      const sandbox = yield* DockerSandbox.make(dockerSettings(uniqueOwner("ready"))).pipe(Effect.provide(redactor))
      const handle = yield* sandbox.acquire({ ...newIds(), workspacePath: yield* tempWorkspace() })
      const probe = yield* handle.exec({
        command: [
          "node",
          "-e",
          "require('net').connect(3128, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))"
        ],
        timeout: "20 seconds"
      })
      assert.strictEqual(probe.exitCode, 0, "the forwarder listens before the sandbox is handed out")
      const tmp = yield* handle.exec({ command: ["test", "-d", handle.tmpdir], timeout: "20 seconds" })
      assert.strictEqual(tmp.exitCode, 0)
      // the forwarder (not pid 1: docker-init) starts without the extra CA bundle (it makes no TLS connection); commands keep it
      const env = yield* handle.exec({
        command: [
          "sh",
          "-c",
          "f=$(grep -l 'forward[.]cjs' /proc/[0-9]*/cmdline | grep -v '^/proc/1/' | head -n 1); tr '\\0' '\\n' < \"${f%cmdline}environ\"; echo ---; env"
        ],
        timeout: "20 seconds"
      })
      const [forwarderEnv, execEnv] = env.stdout.split("---")
      assert.include(forwarderEnv, "HTTPS_PROXY=", env.stderr)
      assert.notInclude(forwarderEnv, "NODE_EXTRA_CA_CERTS")
      assert.include(execEnv, "NODE_EXTRA_CA_CERTS=")
    }))

  it.scopedLive("a container replaced under a live handle (work tree cloned again) waits for its own forwarder", () =>
    Effect.gen(function*() {
      ensureImage()
      const sandbox = yield* DockerSandbox.make(dockerSettings(uniqueOwner("ready"))).pipe(Effect.provide(redactor))
      const repo = yield* tempRepo({ "README.md": "# first\n" })
      const ids = { ...newIds(), workspacePath: repo }
      const first = yield* sandbox.acquire(ids)
      const next = yield* tempRepo({ "README.md": "# second\n" })
      yield* Effect.promise(async () => {
        await fs.rename(repo, `${repo}-old`)
        await fs.rename(next, repo)
        await fs.mkdir(next)
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => fs.rm(`${repo}-old`, { recursive: true, force: true })))
      // the proxy is still the first handle's: the report the first forwarder sent must not count
      const second = yield* sandbox.acquire(ids)
      assert.notStrictEqual(second.id, first.id)
      const listening = yield* second.exec({ command: ["cat", "/proc/net/tcp"], timeout: "20 seconds" })
      assert.match(listening.stdout, /0100007F:0C38 00000000:0000 0A /, "127.0.0.1:3128 listens when handed out")
    }))

  it.scopedLive("an image without git fails with the health message naming git", () =>
    Effect.gen(function*() {
      const image = yield* derivedImage("test-nogit", "rm /usr/bin/git")
      const { exit, left } = yield* acquireWith(image, Duration.seconds(60))
      const message = failureMessage(exit)
      assert.include(message, "docker: sandbox health check failed (git and node must be on PATH in")
      assert.include(message, "git --version")
      assert.strictEqual(left, 0)
    }))

  it.scopedLive("an image without node fails with the health message", () =>
    Effect.gen(function*() {
      const image = yield* derivedImage("test-nonode", "rm /usr/local/bin/node")
      const { exit, left } = yield* acquireWith(image, Duration.minutes(10))
      const message = failureMessage(exit)
      assert.include(message, "docker: sandbox health check failed (git and node must be on PATH in")
      assert.include(message, "exited with code 127")
      assert.strictEqual(left, 0)
    }))

  it.scopedLive("a forwarder that never becomes ready fails with the health message at the start timeout", () =>
    Effect.gen(function*() {
      const image = yield* derivedImage(
        "test-node-hangs",
        "printf '#!/bin/sh\\nexec sleep 3600\\n' > /usr/local/bin/node"
      )
      const { exit, left } = yield* acquireWith(image, Duration.seconds(5))
      const message = failureMessage(exit)
      assert.include(message, "docker: sandbox health check failed (git and node must be on PATH in")
      assert.include(message, "the egress forwarder did not report ready on 127.0.0.1:3128 within 5s")
      assert.strictEqual(left, 0)
    }))

  it.scopedLive("a forwarder that exits fails at once with its exit code, not at the start timeout", () =>
    Effect.gen(function*() {
      const image = yield* derivedImage("test-node-exits", "printf '#!/bin/sh\\nexit 3\\n' > /usr/local/bin/node")
      // A timeout the test would not outlive: the failure comes from the container's exit.
      const { exit, left } = yield* acquireWith(image, Duration.minutes(10))
      const message = failureMessage(exit)
      assert.include(message, "docker: sandbox health check failed (git and node must be on PATH in")
      assert.include(message, "the container's main process (the egress forwarder) exited with code 3")
      assert.strictEqual(left, 0)
    }))
})
