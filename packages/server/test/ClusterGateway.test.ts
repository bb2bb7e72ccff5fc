/**
 * The process cluster of `npm run cluster` (gateway + 2 runners, real Postgres) driven only
 * through the gateway's HTTP API: an execution of the real pipeline runs; the runner holding the
 * project is SIGKILLed mid-execution; the execution still completes, each task merged and ticked
 * exactly once on the remote.
 */
import { makeBareRemote, refsOf, remoteFile, tempDir } from "@devteam/runtime/testing/GitRemote"
import * as ServiceEntry from "@devteam/runtime/testing/ServiceEntry"
import * as LocalCluster from "@devteam/server/LocalCluster"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FreshDatabase from "./fixtures/FreshDatabase.js"
import * as Ports from "./fixtures/Ports.js"

const database = FreshDatabase.make("devteam_gw")
const dbUrl = database.url
const freshDatabase = database.layer

const taskList = `# Tasks

Phase 1: Notes

- 1.1 Notes (Dependencies: [])
  - [ ] 1.1.1 First note
  - [ ] 1.1.2 Second note
  - [ ] 1.1.3 Third note
`

const projectId = "acme/cluster-gateway"

const http = (url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const res = await fetch(url, init)
    return { status: res.status, body: await res.json().catch(() => null) }
  })

describe("npm run cluster topology through the gateway", () => {
  it.live(
    "an execution completes through the gateway although the runner holding it is SIGKILLed mid-execution",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir("devteam-cluster-remote-")
        const bare = makeBareRemote({
          root,
          files: {
            "docs/DevTeam/tasks_list.md": taskList,
            "package.json": JSON.stringify({ name: "n", version: "1.0.0", scripts: { build: "node -e 1" } }) + "\n",
            "package-lock.json": JSON.stringify({
              name: "n",
              version: "1.0.0",
              lockfileVersion: 3,
              requires: true,
              packages: { "": { name: "n", version: "1.0.0" } }
            }) + "\n"
          }
        })
        const logDir = mkdtempSync(join(tmpdir(), "devteam-cluster-gw-"))
        const [gatewayPort = 0, ...runnerPorts] = yield* Effect.promise(() => Ports.reserve(3))
        const cluster = yield* LocalCluster.start({
          nodeArgs: ServiceEntry.nodeArgs(),
          databaseUrl: dbUrl,
          gatewayPort,
          runnerPorts,
          logDir,
          env: { REPO_ALLOW_FILE: "true", SANDBOX: "local", LOG_LEVEL: "debug", WAKEUP_INTERVAL: "2 seconds" },
          readyTimeoutMs: 90_000
        })
        // the gateway runs no pipeline: git, aider and docker are not its concern
        const health = yield* Effect.promise(() => fetch(`${cluster.gatewayUrl}/health`).then((r) => r.json()))
        assert.deepInclude(health, { role: "gateway" })
        assert.deepInclude(health.dependencies, { git: "disabled", aider: "disabled", docker: "disabled" })
        const api = `${cluster.gatewayUrl}/api/devteam/automation`
        const started = yield* http(`${api}/initialize`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            projectId,
            repoUrl: `file://${bare}`,
            tool: "script",
            // slow enough to be caught mid-IMPLEMENT
            script: "sleep 2; echo note >> notes.txt"
          })
        })
        assert.strictEqual(started.status, 202, JSON.stringify(started.body))
        const status = () => http(`${api}/status/${encodeURIComponent(projectId)}`)

        // Wait until the first task is being implemented, then kill the runner that holds the project.
        const deadline = Date.now() + 60_000
        while (Date.now() < deadline) {
          const s = yield* status()
          if (s.body?.status === "IMPLEMENTING") break
          yield* Effect.sleep("100 millis")
        }
        const holder = cluster.runners.find((r) =>
          readFileSync(r.logFile, "utf8").split("\n").some((line) =>
            line.includes("project activated") && line.includes(`"projectId":"${projectId}"`)
          )
        )
        assert.isDefined(holder, "one runner logged the project's activation")
        if (holder === undefined) return
        yield* holder.kill("SIGKILL")

        let final: { status: number; body: { status?: string; completedTasks?: number } | null } = {
          status: 0,
          body: null
        }
        const end = Date.now() + 120_000
        while (Date.now() < end) {
          final = yield* status()
          if (final.body?.status === "COMPLETED" || final.body?.status === "FAILED") break
          yield* Effect.sleep("250 millis")
        }
        assert.strictEqual(final.body?.status, "COMPLETED", JSON.stringify(final.body))
        assert.strictEqual(final.body?.completedTasks, 3)

        // On the remote: three --no-ff merges, three ticks, each once.
        const merges = execFileSync("git", ["--git-dir", bare, "rev-list", "--merges", "main"], { encoding: "utf8" })
          .trim().split("\n").filter((l) => l.length > 0)
        assert.strictEqual(merges.length, 3)
        const list = remoteFile(bare, "docs/DevTeam/tasks_list.md")
        assert.strictEqual((list.match(/- \[x\] 1\.1\.\d/g) ?? []).length, 3)
        assert.include(refsOf(bare), "refs/heads/main")
      }).pipe(Effect.scoped, Effect.provide(freshDatabase)),
    { timeout: 300_000 }
  )
})
