/**
 * The coding agents' versions where IMPLEMENT runs them: inside the sandbox image (the real engine,
 * the locally built test image: Claude Code from npm, no aider — aider cannot be installed here)
 * and on this machine for the local sandbox.
 */
import * as SandboxAgents from "@devteam/runtime/SandboxAgents"
import { assert, describe, it } from "@effect/vitest"
import Docker from "dockerode"
import { Effect, Option } from "effect"
import { dockerSettings, ensureImage, uniqueOwner } from "./fixtures/sandboxes.js"

const agents = [{ name: "aider", executable: "aider" }, { name: "claude-code", executable: "claude" }]
const docker = new Docker({ socketPath: "/var/run/docker.sock" })

const containersOf = (owner: string) =>
  Effect.promise(() => docker.listContainers({ all: true, filters: { label: [`devteam.sandbox.owner=${owner}`] } }))

describe("SandboxAgents", () => {
  it.live(
    "in the image: claude's version from a short-lived container (no network), aider missing; nothing left behind",
    () =>
      Effect.gen(function*() {
        ensureImage()
        const owner = uniqueOwner("agents")
        const versions = yield* SandboxAgents.versionsInImage(dockerSettings(owner), agents)
        assert.deepStrictEqual(versions.map((v) => v.name), ["aider", "claude-code"])
        assert.isTrue(Option.isNone(versions[0]?.version ?? Option.some("?")))
        assert.match(Option.getOrElse(versions[1]?.version ?? Option.none(), () => ""), /^2\.1\.112 \(Claude Code\)$/)
        assert.strictEqual((yield* containersOf(owner)).length, 0)
      }),
    { timeout: 120_000 }
  )

  it.live("a missing image is a SandboxUnavailable naming it", () =>
    Effect.gen(function*() {
      const owner = uniqueOwner("agents")
      const error = yield* Effect.flip(
        SandboxAgents.versionsInImage({ ...dockerSettings(owner), image: "devteam-no-such-image:x" }, agents)
      )
      assert.strictEqual(error._tag, "SandboxUnavailable")
      assert.include(error.message, "devteam-no-such-image:x")
      assert.strictEqual((yield* containersOf(owner)).length, 0)
    }), { timeout: 60_000 })

  it.live("on the host (local sandbox): what is on PATH", () =>
    Effect.gen(function*() {
      const versions = yield* SandboxAgents.versionsOnHost([
        { name: "node", executable: "node" },
        { name: "nothing", executable: "devteam-no-such-agent" }
      ])
      assert.strictEqual(Option.getOrElse(versions[0]?.version ?? Option.none(), () => ""), process.version)
      assert.isTrue(Option.isNone(versions[1]?.version ?? Option.some("?")))
    }))
})
