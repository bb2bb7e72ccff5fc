/**
 * Two gateway processes and a runner process on one Postgres and one Redis: a WebSocket client on
 * each gateway follows the same execution (started through the first gateway) and both receive
 * every frame, in order, identical. The gateways' journal polling is set to 60 s, so the frames can
 * only have crossed processes through Redis pub/sub.
 */
import { makeBareRemote, tempDir } from "@devteam/runtime/testing/GitRemote"
import * as ServiceEntry from "@devteam/runtime/testing/ServiceEntry"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { WebSocket } from "ws"
import * as LocalCluster from "../src/LocalCluster.js"
import * as FreshDatabase from "./fixtures/FreshDatabase.js"
import * as Ports from "./fixtures/Ports.js"

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379"
const projectId = "acme/two-gateways"

const taskList = `# Tasks

Phase 1: Notes

- 1.1 Notes (Dependencies: [])
  - [ ] 1.1.1 First note
  - [ ] 1.1.2 Second note
`

interface Follower {
  readonly frames: Array<{ readonly seq: number; readonly type: string; readonly raw: string }>
  /** When the execution-completed frame arrived (epoch ms). */
  readonly completed: Promise<number>
  readonly close: () => void
}

/** A raw WebSocket client following `projectId` live (no since: from now on) on one gateway. */
const follow = (gatewayUrl: string): Promise<Follower> =>
  new Promise((resolve, reject) => {
    const url = `${gatewayUrl.replace("http://", "ws://")}/ws/devteam?projectId=${encodeURIComponent(projectId)}`
    const ws = new WebSocket(url)
    const frames: Array<{ seq: number; type: string; raw: string }> = []
    let done: (at: number) => void = () => {}
    const completed = new Promise<number>((r) => (done = r))
    ws.on("message", (data) => {
      const raw = data.toString()
      const frame: unknown = JSON.parse(raw)
      if (typeof frame !== "object" || frame === null || !("type" in frame) || typeof frame.type !== "string") return
      if (frame.type === "replay-complete") resolve({ frames, completed, close: () => ws.close() })
      if ("seq" in frame && typeof frame.seq === "number") {
        frames.push({ seq: frame.seq, type: frame.type, raw })
        if (frame.type === "execution-completed") done(Date.now())
      }
    })
    ws.on("error", reject)
  })

describe("two gateway processes (Redis between them)", () => {
  const fresh = FreshDatabase.make("devteam_gateways")
  it.live(
    "a client on each gateway receives every frame of one execution, identical and in order",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir("devteam-gateways-")
        const bare = makeBareRemote({ root, files: { "docs/DevTeam/tasks_list.md": taskList } })
        const [firstPort = 0, secondPort = 0, runnerPort = 0] = yield* Effect.promise(() => Ports.reserve(3))
        const env = { SANDBOX: "local", REPO_ALLOW_FILE: "true", WS_POLL_INTERVAL_MS: "60000", LOG_LEVEL: "info" }
        const first = yield* LocalCluster.start({
          nodeArgs: ServiceEntry.nodeArgs(),
          databaseUrl: fresh.url,
          redisUrl: REDIS_URL,
          gatewayPort: firstPort,
          runnerPorts: [runnerPort],
          logDir: mkdtempSync(join(tmpdir(), "devteam-gateways-a-")),
          env,
          readyTimeoutMs: 90_000
        })
        const second = yield* LocalCluster.start({
          nodeArgs: ServiceEntry.nodeArgs(),
          databaseUrl: fresh.url,
          redisUrl: REDIS_URL,
          gatewayPort: secondPort,
          runnerPorts: [],
          logDir: mkdtempSync(join(tmpdir(), "devteam-gateways-b-")),
          env,
          readyTimeoutMs: 90_000
        })
        const a = yield* Effect.promise(() => follow(first.gatewayUrl))
        const b = yield* Effect.promise(() => follow(second.gatewayUrl))
        yield* Effect.addFinalizer(() => Effect.sync(() => (a.close(), b.close())))

        const started = yield* Effect.promise(() =>
          fetch(`${first.gatewayUrl}/api/devteam/automation/initialize`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              projectId,
              repoUrl: `file://${bare}`,
              tool: "script",
              script: "echo \"$DEVTEAM_TASK_ID\" >> notes.txt",
              verify: { commands: ["true"] }
            })
          })
        )
        assert.strictEqual(started.status, 202)
        const [atA, atB] = yield* Effect.promise(() => Promise.all([a.completed, b.completed])).pipe(
          Effect.timeoutFail({
            duration: "90 seconds",
            onTimeout: () => new Error("not every client saw the completion")
          })
        )
        // live through Redis, not the 60 s journal poll
        assert.isBelow(Math.abs(atB - atA), 5_000, "the second gateway delivered as the first did")
        const seqs = a.frames.map((f) => f.seq)
        assert.isAbove(seqs.length, 20)
        assert.deepStrictEqual(seqs, Array.from({ length: seqs.length }, (_, i) => (seqs[0] ?? 0) + i), "no gap")
        assert.deepStrictEqual(b.frames.map((f) => f.raw), a.frames.map((f) => f.raw), "identical on both gateways")
      }).pipe(Effect.scoped, Effect.provide(Layer.orDie(fresh.layer))),
    180_000
  )
})
