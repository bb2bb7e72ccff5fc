/**
 * A deployment's processes start together on a fresh database (compose starts both runners and the
 * gateway at once): the cluster's tables are created by whichever gets there first and every
 * process comes up. Without serialising that creation, about one process in five failed with
 * `duplicate key value violates unique constraint "pg_type_typname_nsp_index"`.
 */
import * as ServiceEntry from "@devteam/runtime/testing/ServiceEntry"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as FreshDatabase from "./fixtures/FreshDatabase.js"
import * as Ports from "./fixtures/Ports.js"

const repoRoot = resolve(import.meta.dirname, "../../..")
const port = await Ports.reserveOne()

interface Started {
  readonly outcome: Promise<string>
  readonly child: ChildProcess
}

/** One process; its outcome is "ready" on its ready line, or its failure line when it exits. */
const start = (env: Record<string, string>): Started => {
  const child = spawn(process.execPath, ServiceEntry.nodeArgs(), {
    cwd: repoRoot,
    env: { ...process.env, LOG_FORMAT: "json", SANDBOX: "local", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const outcome = new Promise<string>((done) => {
    const collect = (chunk: Buffer) => {
      output += chunk.toString()
      if (/"(runner|gateway) ready"/.test(output)) done("ready")
    }
    child.stdout?.on("data", collect)
    child.stderr?.on("data", collect)
    child.on("exit", () => done(/cannot start[^"]*/.exec(output)?.[0] ?? `exited: ${output.slice(-500)}`))
  })
  return { outcome, child }
}

const stop = (child: ChildProcess) =>
  new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done()
    child.once("exit", () => done())
    child.kill("SIGKILL")
  })

/** Two runners and a gateway started at once on `url`: the outcome of each. */
const startTogether = async (url: string, round: number): Promise<ReadonlyArray<string>> => {
  const dataDir = mkdtempSync(join(tmpdir(), "devteam-startup-"))
  const processes = [1, 2, 3].map((n) =>
    start({
      ROLE: n === 3 ? "gateway" : "runner",
      DATABASE_URL: url,
      RUNNER_HOST: "127.0.0.1",
      RUNNER_PORT: String(port + round * 10 + n),
      DEVTEAM_RUNNER_PORT: String(port + 500 + round * 10 + n),
      DATA_DIR: join(dataDir, String(n))
    })
  )
  try {
    return await Promise.all(
      processes.map((p) =>
        Promise.race([p.outcome, new Promise<string>((done) => setTimeout(() => done("timed out"), 60_000))])
      )
    )
  } finally {
    await Promise.all(processes.map((p) => stop(p.child)))
    rmSync(dataDir, { recursive: true, force: true })
  }
}

describe("processes starting together on a fresh database", () => {
  it.live(
    "two runners and a gateway started at the same moment all come up (3 rounds)",
    () =>
      Effect.forEach([0, 1, 2], (round) => {
        const fresh = FreshDatabase.make("devteam_startup")
        return Effect.promise(() => startTogether(fresh.url, round)).pipe(
          Effect.tap((outcomes) => assert.deepStrictEqual(outcomes, ["ready", "ready", "ready"], `round ${round + 1}`)),
          Effect.provide(Layer.orDie(fresh.layer))
        )
      }, { discard: true }),
    240_000
  )
})
