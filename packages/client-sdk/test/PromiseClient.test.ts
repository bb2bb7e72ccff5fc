/**
 * The Promise client against the real all-in-one service (embedded database, auth on, real git
 * remotes on disk, the script tool in the local sandbox): every method round-trips, every failure
 * is a typed `DevTeamError`, idempotency keys and retries behave. Project ids contain `/`.
 */
import { DevTeamError, isDevTeamError } from "@devteam/client-sdk/DevTeamError"
import { createDevTeamClient, type DevTeamPromiseClient } from "@devteam/client-sdk/PromiseClient"
import { DevTeamApi } from "@devteam/domain/Api"
import type { ExecutionState } from "@devteam/domain/ProjectState"
import { makeBareRemote, remoteFile, sampleTaskList } from "@devteam/runtime/testing/GitRemote"
import { HttpApi } from "@effect/platform"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminToken, freePort, makeService, mintToken, type Service } from "./fixtures/Service.js"

const script = "mkdir -p out && echo \"$DEVTEAM_TASK_ID\" >> \"out/t-$DEVTEAM_TASK_ID.txt\""

let service: Service
let client: DevTeamPromiseClient
let remotes: string

const newProject = (name: string) => `sdk-rest/${name}-${randomUUID().slice(0, 8)}`

const newRemote = (name: string, files: Readonly<Record<string, string>> = {}) =>
  makeBareRemote({
    root: remotes,
    name: `${name}-${randomUUID().slice(0, 8)}.git`,
    files: { "README.md": "# Demo\n", "docs/DevTeam/tasks_list.md": sampleTaskList, ...files }
  })

/** Polls the status until `done` holds (the Promise client itself is what is polled). */
const waitForStatus = async (
  projectId: string,
  done: (state: ExecutionState) => boolean,
  timeoutMs = 60_000
): Promise<ExecutionState> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const state = await client.status(projectId)
    if (done(state)) return state
    if (Date.now() > deadline) throw new Error(`timed out; last status ${state.status}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const rejection = async (promise: Promise<unknown>): Promise<DevTeamError> => {
  try {
    await promise
  } catch (error) {
    if (error instanceof DevTeamError) return error
    throw new Error(`expected a DevTeamError, got ${String(error)}`)
  }
  throw new Error("expected the call to fail")
}

beforeAll(async () => {
  service = await makeService({ SCRIPT_TOOL_COMMAND: script })
  await service.start()
  remotes = Path.join(service.root, "remotes")
  Fs.mkdirSync(remotes, { recursive: true })
  client = createDevTeamClient({ baseUrl: service.baseUrl, token: adminToken() })
}, 120_000)

afterAll(async () => {
  await service?.dispose()
})

describe("Promise client: every route round-trips", () => {
  it("health, repository, automation to completion, executions, admin, metrics", async () => {
    const health = await client.health()
    // degraded when an optional dependency is down (aider is not installed on these machines)
    const anyDown = Object.values(health.dependencies).includes("unavailable")
    expect(health.status).toBe(anyDown ? "degraded" : "healthy")
    expect(health.role).toBe("all")
    expect(health.dependencies).toMatchObject({ postgres: "available", redis: "disabled", git: "available" })
    expect(health.details["redis"]).toContain("in-process")

    const repoUrl = newRemote("full")
    const validated = await client.validateRepository({ repoUrl })
    expect(validated).toMatchObject({ valid: true, reachable: true, defaultBranch: "main" })
    expect(validated.taskList).toMatchObject({ found: true, totalTasks: 3, completedTasks: 0 })

    const projectId = newProject("full")
    const started = await client.initialize({
      projectId,
      repoUrl,
      userId: "sdk-user",
      tool: "script",
      script,
      verify: { commands: ["true"] }
    })
    expect(started.projectId).toBe(projectId)

    const finished = await waitForStatus(projectId, (s) => s.status === "COMPLETED")
    expect(finished.executionId).toBe(started.executionId)
    expect(remoteFile(repoUrl, "out/t-1.2.1.txt")).toBe("1.2.1\n")

    const tasks = await client.tasks(projectId)
    expect(tasks.tasks.filter((t) => t.type === "atomic").map((t) => [t.id, t.status])).toEqual([
      ["1.1.1", "completed"],
      ["1.1.2", "completed"],
      ["1.2.1", "completed"]
    ])
    expect(tasks).toMatchObject({ totalTasks: 3, completedTasks: 3, progress: 100 })

    const plan = await client.plan(projectId)
    expect(plan.order).toEqual([])
    expect(plan.blocked).toEqual([])

    const next = await client.nextTask({ projectId })
    expect(next.task).toBeNull()
    expect(next.completedTasks).toBe(3)

    const history = await client.executionHistory("sdk-user", { limit: 5 })
    expect(history.map((h) => [h.executionId, h.status, h.completedTasks])).toContainEqual([
      started.executionId,
      "COMPLETED",
      3
    ])
    const active = await client.activeExecutions("sdk-user")
    expect(active.map((a) => a.executionId)).not.toContain(started.executionId)

    const details = await client.execution(started.executionId)
    expect(details.projectId).toBe(projectId)
    expect(details.tasks.map((t) => [t.taskId, t.status])).toEqual([
      ["1.1.1", "completed"],
      ["1.1.2", "completed"],
      ["1.2.1", "completed"]
    ])
    expect(details.tasks.every((t) => t.mergeCommit !== null && t.pushedCommit !== null)).toBe(true)

    const projects = await client.adminProjects()
    expect(projects.find((p) => p.projectId === projectId)?.status).toBe("COMPLETED")

    // the journal, paged through `after`/`nextAfter`
    const seqs: Array<number> = []
    let after: number | null = 0
    while (after !== null) {
      const page = await client.adminJournal(projectId, { after, limit: 7 })
      expect(page.events.length).toBeLessThanOrEqual(7)
      seqs.push(...page.events.map((e) => e.seq))
      after = page.nextAfter
    }
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
    expect(seqs.length).toBeGreaterThan(20)

    const cluster = await client.adminCluster()
    expect(cluster.mode).toBeTypeOf("string")
    expect(cluster.shards.length).toBeGreaterThan(0)

    const metrics = await client.metrics()
    expect(metrics).toContain("devteam_http_requests_total")
  }, 120_000)

  it("pause, resume and stop a running execution; updateTask and injectTask", async () => {
    const repoUrl = newRemote("control")
    const projectId = newProject("control")
    const slow = `sleep 1; ${script}`
    await client.initialize({ projectId, repoUrl, tool: "script", script: slow, verify: { commands: ["true"] } })
    await waitForStatus(projectId, (s) => s.step === "IMPLEMENT")

    const paused = await client.pause(projectId)
    expect(paused.projectId).toBe(projectId)
    expect(paused.pauseRequested || paused.status === "PAUSED").toBe(true)
    await waitForStatus(projectId, (s) => s.status === "PAUSED")

    const updated = await client.updateTask(projectId, "1.2.1", { title: "Add the login page" })
    expect(updated).toMatchObject({ id: "1.2.1", title: "Add the login page" })

    const injected = await client.injectTask({
      projectId,
      task: { id: "E1", title: "Fix the footer", description: "urgent" },
      mode: "priority"
    })
    expect(injected.taskId).toBe("E1")
    const planned = await client.plan(projectId)
    expect(planned.order[0]).toBe("E1")

    const resumed = await client.resume(projectId)
    expect(resumed.status).not.toBe("PAUSED")
    await waitForStatus(projectId, (s) => s.currentTask === "E1" || s.completedTasks > 1)

    const stopped = await client.stop(projectId)
    expect(["STOPPED", "STOPPING"]).toContain(stopped.status)
    const final = await waitForStatus(projectId, (s) => s.status === "STOPPED")
    expect(final.status).toBe("STOPPED")
  }, 120_000)

  it("a failed execution's error record; single steps prep → implement → verify; events", async () => {
    const repoUrl = newRemote("failing")
    const projectId = newProject("failing")
    const started = await client.initialize({
      projectId,
      repoUrl,
      tool: "script",
      script,
      verify: { commands: ["echo the build is broken >&2; exit 3"] }
    })
    const failed = await waitForStatus(projectId, (s) => s.status === "FAILED")
    const errorId = failed.error?.errorId
    expect(errorId).toBeTypeOf("string")
    const error = await client.executionError(started.executionId, errorId ?? "")
    expect(error).toMatchObject({ errorId, step: "VERIFY", category: "verify" })

    // single steps on an ad-hoc project (derived from the repository URL)
    const stepsRepo = newRemote("steps")
    const prepared = await client.prep({ repoUrl: stepsRepo, taskId: "1.1.1" })
    expect(prepared).toMatchObject({ success: true, taskId: "1.1.1" })
    expect(prepared.projectId).toMatch(/^adhoc\//)
    const stepsProject = prepared.projectId
    const implemented = await client.implement({
      projectId: stepsProject,
      taskId: "1.1.1",
      branch: prepared.branch,
      tool: "script",
      criteria: { description: "Create the project skeleton" }
    })
    expect(implemented.success).toBe(true)
    expect(implemented.commit).toMatch(/^[0-9a-f]{40}$/)
    const verified = await client.verify({
      projectId: stepsProject,
      taskId: "1.1.1",
      branch: prepared.branch,
      criteria: { "doc.updated": "out/t-1.1.1.txt" }
    })
    expect(verified.success).toBe(true)
    expect(verified.results["doc.updated"]).toMatchObject({ passed: true, files: ["out/t-1.1.1.txt"] })
    // a criterion not met is the server's 422: resolved with success false, not thrown
    const unmet = await client.verify({
      projectId: stepsProject,
      taskId: "1.1.1",
      branch: prepared.branch,
      criteria: { "doc.updated": "CHANGELOG.md" }
    })
    expect(unmet.success).toBe(false)
    expect(unmet.results["doc.updated"]?.passed).toBe(false)

    // the seeds' event path
    const eventsRepo = newRemote("events")
    const eventsProject = newProject("events")
    const ingested = await client.ingestEvent({
      workflow_type: "DEVTEAM_AUTOMATION",
      data: { projectId: eventsProject, repoUrl: eventsRepo, userId: "sdk-user" }
    })
    const record = await client.getEvent(ingested.event_id)
    expect(record.id).toBe(ingested.event_id)
    expect(record.data.projectId).toBe(eventsProject)
  }, 120_000)
})

describe("Promise client: typed errors", () => {
  it("projects: putProject registers, getProject / listProjects read, initialize uses the settings, deleteProject", async () => {
    const repoUrl = newRemote("registered")
    const projectId = newProject("registered")
    const view = await client.putProject(projectId, { repoUrl, tool: "script", script })
    expect(view.settings).toMatchObject({ repoUrl, tool: "script", baseBranch: "main" })
    expect(view.status.status).toBe("IDLE")
    expect((await client.tasks(projectId)).totalTasks).toBe(3)
    expect((await client.getProject(projectId)).settings?.repoUrl).toBe(repoUrl)
    const listed = await client.listProjects({ limit: 200 })
    expect(listed.projects.map((p) => p.projectId)).toContain(projectId)
    // one task (the stop point) is enough to show the settings were used
    await client.initialize({ projectId, stopPoint: "1.1.1" })
    await waitForStatus(projectId, (s) => s.status === "COMPLETED")
    expect(remoteFile(repoUrl, "out/t-1.1.1.txt")).toBe("1.1.1\n")
    expect(await client.deleteProject(projectId)).toEqual({ projectId, deleted: true })
    expect((await rejection(client.getProject(projectId))).status).toBe(404)
  })

  it("unknown project → ProjectNotFound 404 with the server's body and our correlation id", async () => {
    const projectId = newProject("missing")
    const error = await rejection(client.status(projectId, { correlationId: "sdk-corr-404" }))
    expect(error).toMatchObject({
      _tag: "ProjectNotFound",
      status: 404,
      fromServer: true,
      correlationId: "sdk-corr-404"
    })
    expect(error.body?.["projectId"]).toBe(projectId)
    expect(isDevTeamError(error, "ProjectNotFound")).toBe(true)
    expect(isDevTeamError(error, "IllegalTransition")).toBe(false)
  })

  it("an illegal transition → IllegalTransition 409, nothing changes", async () => {
    const repoUrl = newRemote("illegal")
    const projectId = newProject("illegal")
    await client.initialize({ projectId, repoUrl, tool: "script", script, verify: { commands: ["true"] } })
    const done = await waitForStatus(projectId, (s) => s.status === "COMPLETED")
    const error = await rejection(client.resume(projectId))
    expect(error).toMatchObject({ _tag: "IllegalTransition", status: 409 })
    expect(error.body?.["status"]).toBe("COMPLETED")
    expect((await client.status(projectId)).status).toBe(done.status)
  }, 60_000)

  it("no token → Unauthorized 401; another project's token → Forbidden 403; user on admin → 403", async () => {
    const projectId = newProject("auth")
    const anonymous = createDevTeamClient({ baseUrl: service.baseUrl })
    expect(await rejection(anonymous.status(projectId))).toMatchObject({ _tag: "Unauthorized", status: 401 })
    const forged = createDevTeamClient({
      baseUrl: service.baseUrl,
      token: mintToken({ sub: "x" }, { secret: "w".repeat(40) })
    })
    expect(await rejection(forged.status(projectId))).toMatchObject({ _tag: "Unauthorized", status: 401 })
    const other = createDevTeamClient({
      baseUrl: service.baseUrl,
      token: () => Promise.resolve(mintToken({ sub: "someone", projects: ["sdk-rest/other"] }))
    })
    expect(await rejection(other.status(projectId))).toMatchObject({ _tag: "Forbidden", status: 403 })
    expect(await rejection(other.adminProjects())).toMatchObject({ _tag: "Forbidden", status: 403 })
  })

  it("bad input is refused before anything is sent (BadRequest, fromServer false)", async () => {
    let requests = 0
    const counting = createDevTeamClient({
      baseUrl: service.baseUrl,
      token: adminToken(),
      fetch: (input, init) => {
        requests++
        return fetch(input, init)
      }
    })
    const badId = await rejection(counting.status("../etc/passwd"))
    expect(badId).toMatchObject({ _tag: "BadRequest", status: 400, fromServer: false })
    expect(badId.message).toContain("projectId")
    const badBody = await rejection(
      counting.initialize({ projectId: newProject("bad"), repoUrl: "", tool: "script" })
    )
    expect(badBody).toMatchObject({ _tag: "BadRequest", fromServer: false })
    expect(badBody.message).toContain("repoUrl")
    const badLimit = await rejection(counting.executionHistory("sdk-user", { limit: 0 }))
    expect(badLimit).toMatchObject({ _tag: "BadRequest", fromServer: false })
    expect(requests).toBe(0)
    // what only the server can judge is the server's BadRequest/InvalidRepoUrl
    const invalidUrl = await rejection(
      counting.initialize({ projectId: newProject("bad"), repoUrl: "ext::sh -c touch% /tmp/pwned" })
    )
    expect(invalidUrl).toMatchObject({ _tag: "InvalidRepoUrl", status: 400, fromServer: true })
    expect(requests).toBe(1)
  })

  it(
    "idempotency: the same key replays the first answer; another body with it → IdempotencyKeyMismatch 422",
    async () => {
      const repoUrl = newRemote("idem")
      const projectId = newProject("idem")
      const idempotencyKey = `sdk-${randomUUID()}`
      const body = { projectId, repoUrl, tool: "script" as const, script, verify: { commands: ["true"] } }
      const first = await client.initialize(body, { idempotencyKey })
      const again = await client.initialize(body, { idempotencyKey })
      expect(again.executionId).toBe(first.executionId)
      const mismatch = await rejection(client.initialize({ ...body, stopPoint: "1.1.1" }, { idempotencyKey }))
      expect(mismatch).toMatchObject({ _tag: "IdempotencyKeyMismatch", status: 422 })
      await waitForStatus(projectId, (s) => s.status === "COMPLETED")
      const history = await client.execution(first.executionId)
      expect(history.executionId).toBe(first.executionId)
    },
    60_000
  )

  it("transport failures: retried with the same Idempotency-Key, then NetworkError; abort → Aborted", async () => {
    const port = await freePort()
    const keys: Array<string | null> = []
    const offline = createDevTeamClient({
      baseUrl: `http://127.0.0.1:${port}`,
      token: adminToken(),
      retries: 2,
      fetch: (input, init) => {
        keys.push(new Headers(init?.headers).get("idempotency-key"))
        return fetch(input, init)
      }
    })
    const error = await rejection(offline.pause(newProject("offline")))
    expect(error).toMatchObject({ _tag: "NetworkError", status: 0, fromServer: false })
    expect(keys.length).toBe(3)
    expect(new Set(keys).size).toBe(1)
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/)

    const controller = new AbortController()
    controller.abort()
    const aborted = await rejection(client.status(newProject("abort"), { signal: controller.signal }))
    expect(aborted).toMatchObject({ _tag: "Aborted", status: 0 })
  })

  it("the correlation id reaches the journal", async () => {
    const repoUrl = newRemote("corr")
    const projectId = newProject("corr")
    const correlationId = `sdk-corr-${randomUUID().slice(0, 8)}`
    await client.initialize({ projectId, repoUrl, tool: "script", script, verify: { commands: ["true"] } }, {
      correlationId
    })
    const page = await client.adminJournal(projectId, { after: 0, limit: 1 })
    expect(page.events[0]).toMatchObject({ seq: 1, type: "ExecutionInitialized", correlationId })
    await waitForStatus(projectId, (s) => s.status === "COMPLETED")
  }, 60_000)
})

describe("Promise client: coverage of the API", () => {
  it("has one method per route of the HttpApi", () => {
    let routes = 0
    HttpApi.reflect(DevTeamApi, { onGroup: () => {}, onEndpoint: () => void routes++ })
    expect(routes).toBe(29)
    expect(Object.keys(client).length).toBe(routes)
  })
})
