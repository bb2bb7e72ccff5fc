/**
 * /health's coding-agent check runs `--version` inside the configured sandbox image (the real
 * engine, the locally built test image: Claude Code, no aider), in the background, and serves the
 * last answer within the health check's bound.
 */
import { testImage } from "@devteam/runtime/Sandbox"
import type { SandboxSettings } from "@devteam/runtime/Sandbox"
import * as DependencyProbes from "@devteam/server/DependencyProbes"
import * as HealthCheck from "@devteam/server/HealthCheck"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")

const settings = (image: string): SandboxSettings => ({
  kind: Option.some("docker"),
  image,
  resources: { cpus: 1, memoryMiB: 512, pidsLimit: 128, network: "none" },
  dockerHost: Option.fromNullable(process.env.DOCKER_HOST),
  dockerSocket: "/var/run/docker.sock",
  owner: `test-agentprobe-${process.pid}`,
  sweepInterval: Duration.hours(1),
  startTimeout: Duration.seconds(60)
})

const agents = [{ name: "aider", executable: "aider" }, { name: "claude-code", executable: "claude" }]

describe("the agent dependency of /health", () => {
  it.scopedLive(
    "names the agents found inside the configured image; aider's absence is 'unavailable', not a failure",
    () =>
      Effect.gen(function*() {
        execFileSync(path.join(repoRoot, "scripts/build-sandbox-image.sh"), [testImage], {
          stdio: "ignore",
          timeout: 600_000
        })
        const check = yield* DependencyProbes.agents(settings(testImage), agents)
        const result = yield* check.check
        assert.strictEqual(result.status, "unavailable")
        assert.strictEqual(
          result.detail,
          `aider: not runnable; claude-code: 2.1.112 (Claude Code) (in image ${testImage})`
        )
        // served from the cache afterwards: well within the health check's bound
        const started = Date.now()
        const again = yield* check.check
        assert.isBelow(Date.now() - started, Duration.toMillis(HealthCheck.CHECK_TIMEOUT))
        assert.deepStrictEqual(again, result)
      }),
    { timeout: 600_000 }
  )

  it.scopedLive("an image that does not exist is reported, naming it", () =>
    Effect.gen(function*() {
      const check = yield* DependencyProbes.agents(settings("devteam-no-such-image:x"), agents)
      const result = yield* check.check
      assert.strictEqual(result.status, "unavailable")
      assert.include(result.detail, "devteam-no-such-image:x")
    }), { timeout: 60_000 })
})
