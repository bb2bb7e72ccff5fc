/**
 * Sandbox bootstrap / teardown: docker create+start+health (`acquire`) and stop+remove+gone
 * (the scope's finalizer) over ≥ 20 runs, one exec round trip, and the local sandbox for
 * comparison. Targets (quality.md): bootstrap p50 ≤ 500 ms, teardown p50 ≤ 2 s.
 * Needs the test image (scripts/build-sandbox-image.sh) and a Docker engine.
 */
import * as DockerSandbox from "@devteam/runtime/DockerSandbox"
import * as LocalSandbox from "@devteam/runtime/LocalSandbox"
import * as Redaction from "@devteam/runtime/Redaction"
import type { Sandbox } from "@devteam/runtime/Sandbox"
import { testImage } from "@devteam/runtime/Sandbox"
import { Duration, Effect, Exit, Option, Scope } from "effect"
import { execFileSync } from "node:child_process"
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { summarize } from "./stats.js"

const runs = Number(process.env.BENCH_SANDBOX_RUNS ?? 25)
const image = testImage

const measure = (sandbox: Sandbox["Type"], workspacePath: string) =>
  Effect.gen(function*() {
    const bootstrap: Array<number> = []
    const teardown: Array<number> = []
    const exec: Array<number> = []
    for (let i = 0; i < runs; i++) {
      const scope = yield* Scope.make()
      const t0 = performance.now()
      const handle = yield* sandbox.acquire({
        projectId: `bench/sandbox-${i}`,
        executionId: crypto.randomUUID(),
        workspacePath
      }).pipe(Scope.extend(scope))
      const t1 = performance.now()
      const result = yield* handle.exec({ command: ["true"], timeout: "30 seconds" })
      if (result.exitCode !== 0) return yield* Effect.die(new Error(`exec failed: ${result.stderr}`))
      const t2 = performance.now()
      yield* Scope.close(scope, Exit.void)
      const t3 = performance.now()
      bootstrap.push(t1 - t0)
      exec.push(t2 - t1)
      teardown.push(t3 - t2)
    }
    return { bootstrapMs: summarize(bootstrap), teardownMs: summarize(teardown), execMs: summarize(exec) }
  })

export const run = async (): Promise<Record<string, unknown>> => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..")
  execFileSync(join(root, "scripts/build-sandbox-image.sh"), [image], { stdio: "inherit" })
  const workspacePath = mkdtempSync(join(tmpdir(), "devteam-bench-sandbox-"))
  chmodSync(workspacePath, 0o777)
  try {
    const program = Effect.gen(function*() {
      const docker = yield* DockerSandbox.make({
        kind: Option.some("docker"),
        image,
        resources: { cpus: 1, memoryMiB: 2048, pidsLimit: 512, network: "none" },
        dockerHost: Option.fromNullable(process.env.DOCKER_HOST),
        dockerSocket: "/var/run/docker.sock",
        owner: `bench-${process.pid}`,
        sweepInterval: Duration.hours(1),
        startTimeout: Duration.seconds(60)
      })
      const local = yield* LocalSandbox.make
      // One warm-up, not counted (first exec of the image, page cache).
      yield* Effect.scoped(
        docker.acquire({ projectId: "bench/warmup", executionId: crypto.randomUUID(), workspacePath })
      )
      return { docker: yield* measure(docker, workspacePath), local: yield* measure(local, workspacePath) }
    }).pipe(Effect.provide(Redaction.layerWith([])))
    const figures = await Effect.runPromise(program)
    return {
      runs,
      image,
      ...figures,
      targets: { bootstrapP50Ms: 500, teardownP50Ms: 2000 }
    }
  } finally {
    rmSync(workspacePath, { recursive: true, force: true })
  }
}
