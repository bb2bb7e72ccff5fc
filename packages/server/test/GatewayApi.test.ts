/**
 * Every REST route over a real socket, against the real gateway + runner + cluster (`all` mode,
 * embedded PGlite, placeholder step driver), with JWT authentication: success and error codes,
 * the authorisation matrix, idempotency (replay, mismatch, concurrent duplicates), body limits,
 * malformed JSON, error bodies, metrics and the admin routes.
 */
import { assert, describe } from "@effect/vitest"
import { Effect } from "effect"
import { request as httpRequest } from "node:http"
import { parseExposition, sampleOf } from "./fixtures/Exposition.js"
import * as H from "./fixtures/GatewayHarness.js"

const PROJECT = "acme/app"
const ENCODED = encodeURIComponent(PROJECT)

const tokens = Effect.promise(async () => ({
  admin: await H.sign({ sub: "root", roles: ["admin"], projects: ["*"] }),
  user: await H.sign({ sub: "alice", projects: [PROJECT, "acme/ctl", "acme/idem", "acme/conc", "acme/matrix-del"] }),
  customer: await H.sign({ sub: "bob", customerId: "acme" }),
  other: await H.sign({ sub: "mallory", projects: ["evil/x"] })
}))

/** Polls the status projection until `done` holds (or 20 s pass). */
const waitFor = (url: string, token: string, projectId: string, done: (status: string) => boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      const res = yield* H.request(`${url}/api/devteam/automation/status/${encodeURIComponent(projectId)}`, { token })
      const status = H.field(res.body, "status")
      if (res.status === 200 && typeof status === "string" && done(status)) return status
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.dieMessage(`${projectId} did not reach the expected status`)
  })

const lastSeq = (url: string, token: string, projectId: string) =>
  Effect.gen(function*() {
    const res = yield* H.request(`${url}/admin/projects`, { token })
    const list = Array.isArray(res.body) ? res.body : []
    const row: unknown = list.find((p) => H.field(p, "projectId") === projectId)
    const seq = H.field(row, "lastSeq")
    return typeof seq === "number" ? seq : 0
  })

/** Sends a body without Content-Length (chunked), which fetch cannot do. */
const chunkedPost = (url: string, token: string, chunks: ReadonlyArray<string>) =>
  Effect.async<number>((resume) => {
    let status = -1
    const req = httpRequest(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "transfer-encoding": "chunked" }
    }, (res) => {
      status = res.statusCode ?? 0
      res.resume()
      res.on("end", () => resume(Effect.succeed(status)))
    })
    // the server may answer 413 and close while the client still writes
    req.on("error", () => setTimeout(() => resume(Effect.succeed(status)), 200))
    const write = (i: number): void => {
      const chunk = chunks[i]
      if (chunk === undefined) return void req.end()
      req.write(chunk, () => setTimeout(() => write(i + 1), 2))
    }
    write(0)
  })

describe("Gateway REST (JWT, embedded PGlite)", () => {
  H.onServer({ jwt: true, stepDuration: "30 millis" })((it) => {
    it.effect("automation: initialize 202, status, pause / resume / stop, illegal transitions 409, unknown 404", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const t = yield* tokens
        const init = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.user,
          body: { projectId: PROJECT, repoUrl, userId: "alice" },
          headers: { "x-correlation-id": "corr-init-1" }
        })
        assert.strictEqual(init.status, 202, init.text)
        assert.strictEqual(init.headers.get("x-correlation-id"), "corr-init-1")
        assert.strictEqual(H.field(init.body, "projectId"), PROJECT)
        assert.match(String(H.field(init.body, "executionId")), /^[0-9a-f-]{36}$/)
        // its Event record, written with the execution's first journal entry, is there once answered
        const record = yield* H.request(`${url}/events/${String(H.field(init.body, "eventId"))}`, { token: t.user })
        assert.strictEqual(record.status, 200, record.text)
        assert.strictEqual(H.field(H.field(record.body, "data"), "repoUrl"), repoUrl)
        assert.strictEqual(
          H.field(H.field(H.field(record.body, "task_context"), "metadata"), "executionId"),
          H.field(init.body, "executionId")
        )
        // a second initialize while the first runs → 409
        const again = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.user,
          body: { projectId: PROJECT, repoUrl }
        })
        assert.strictEqual(again.status, 409, again.text)
        assert.strictEqual(H.field(again.body, "_tag"), "IllegalTransition")
        yield* waitFor(url, t.user, PROJECT, (s) => s === "COMPLETED")

        // control on a fresh execution
        const ctl = "acme/ctl"
        const started = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.user,
          body: { projectId: ctl, repoUrl }
        })
        assert.strictEqual(started.status, 202)
        const pause = yield* H.request(`${url}/api/devteam/automation/pause/${encodeURIComponent(ctl)}`, {
          method: "POST",
          token: t.user
        })
        assert.strictEqual(pause.status, 200, pause.text)
        assert.isTrue(H.field(pause.body, "pauseRequested") === true || H.field(pause.body, "status") === "PAUSED")
        yield* waitFor(url, t.user, ctl, (s) => s === "PAUSED")
        const pauseAgain = yield* H.request(`${url}/api/devteam/automation/pause/${encodeURIComponent(ctl)}`, {
          method: "POST",
          token: t.user
        })
        assert.strictEqual(pauseAgain.status, 409)
        const resume = yield* H.request(`${url}/api/devteam/automation/resume/${encodeURIComponent(ctl)}`, {
          method: "POST",
          token: t.user
        })
        assert.strictEqual(resume.status, 200, resume.text)
        const stop = yield* H.request(`${url}/api/devteam/automation/stop/${encodeURIComponent(ctl)}`, {
          method: "POST",
          token: t.user
        })
        assert.strictEqual(stop.status, 200, stop.text)
        assert.strictEqual(H.field(stop.body, "status"), "STOPPED")
        const stopAgain = yield* H.request(`${url}/api/devteam/automation/stop/${encodeURIComponent(ctl)}`, {
          method: "POST",
          token: t.user
        })
        assert.strictEqual(stopAgain.status, 409)
        assert.strictEqual(H.field(stopAgain.body, "_tag"), "IllegalTransition")

        // unknown project → 404, for reads and commands alike
        for (const path of ["status", "pause", "resume", "stop"]) {
          const res = yield* H.request(`${url}/api/devteam/automation/${path}/acme%2Fnone`, {
            method: path === "status" ? "GET" : "POST",
            token: t.admin
          })
          assert.strictEqual(res.status, 404, path)
          assert.strictEqual(H.field(res.body, "_tag"), "ProjectNotFound")
        }
        // bad repoUrl → 400 InvalidRepoUrl, hostile one is not executed
        const badUrl = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.admin,
          body: { projectId: "acme/bad", repoUrl: "--upload-pack=touch /tmp/pwned" }
        })
        assert.strictEqual(badUrl.status, 400)
        assert.strictEqual(H.field(badUrl.body, "_tag"), "InvalidRepoUrl")
      }))

    it.effect("events: POST /events 202 + GET /events/{id}; unknown workflow 400; repoUrl required first; 404", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const t = yield* tokens
        const unknown = yield* H.request(`${url}/events`, {
          method: "POST",
          token: t.admin,
          body: { workflow_type: "OTHER", data: { projectId: "ev/one", repoUrl } }
        })
        assert.strictEqual(unknown.status, 400)
        assert.include(String(H.field(unknown.body, "message")), "workflow_type")
        const noRepo = yield* H.request(`${url}/events`, {
          method: "POST",
          token: t.admin,
          body: { workflow_type: "DEVTEAM_AUTOMATION", data: { projectId: "ev/one" } }
        })
        assert.strictEqual(noRepo.status, 400)
        assert.include(String(H.field(noRepo.body, "message")), "repoUrl")
        const ok = yield* H.request(`${url}/events`, {
          method: "POST",
          token: t.admin,
          body: {
            workflow_type: "DEVTEAM_AUTOMATION",
            data: { projectId: "ev/one", repoUrl, options: { stopPoint: "1.1.2" } }
          }
        })
        assert.strictEqual(ok.status, 202, ok.text)
        const eventId = String(H.field(ok.body, "event_id"))
        const taskId = String(H.field(ok.body, "task_id"))
        const record = yield* H.request(`${url}/events/${eventId}`, { token: t.admin })
        assert.strictEqual(record.status, 200, record.text)
        assert.strictEqual(H.field(record.body, "workflow_type"), "DEVTEAM_AUTOMATION")
        assert.strictEqual(H.field(H.field(H.field(record.body, "task_context"), "metadata"), "executionId"), taskId)
        yield* waitFor(url, t.admin, "ev/one", (s) => s === "COMPLETED")
        // a later event reuses the project's repoUrl
        const second = yield* H.request(`${url}/events`, {
          method: "POST",
          token: t.admin,
          body: { workflow_type: "DEVTEAM_AUTOMATION", data: { projectId: "ev/one" } }
        })
        assert.strictEqual(second.status, 202, second.text)
        const missing = yield* H.request(`${url}/events/00000000-0000-4000-8000-000000000000`, { token: t.admin })
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(H.field(missing.body, "_tag"), "EventNotFound")
      }))

    it.effect("repository + tasks + runner: validate, tasks, plan, update, inject, next; single steps through the entity", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const t = yield* tokens
        yield* waitFor(url, t.user, PROJECT, (s) => s === "COMPLETED")
        const validate = yield* H.request(`${url}/api/devteam/repository/validate`, {
          method: "POST",
          token: t.user,
          body: { repoUrl }
        })
        assert.strictEqual(validate.status, 200, validate.text)
        assert.strictEqual(H.field(validate.body, "valid"), true)
        assert.strictEqual(H.field(H.field(validate.body, "taskList"), "totalTasks"), 3)
        const unreachable = yield* H.request(`${url}/api/devteam/repository/validate`, {
          method: "POST",
          token: t.user,
          body: { repoUrl: `${repoUrl}-missing` }
        })
        assert.strictEqual(unreachable.status, 200)
        assert.strictEqual(H.field(unreachable.body, "reachable"), false)
        const tasks = yield* H.request(`${url}/api/devteam/repository/tasks/${ENCODED}`, { token: t.user })
        assert.strictEqual(tasks.status, 200, tasks.text)
        assert.strictEqual(H.field(tasks.body, "totalTasks"), 3)
        const plan = yield* H.request(`${url}/api/devteam/repository/plan/${ENCODED}`, { token: t.user })
        assert.strictEqual(plan.status, 200, plan.text)
        assert.isArray(H.field(plan.body, "order"))
        const update = yield* H.request(`${url}/api/devteam/repository/tasks/${ENCODED}/1.2.1`, {
          method: "PUT",
          token: t.user,
          body: { title: "Add the login page" }
        })
        assert.strictEqual(update.status, 200, update.text)
        assert.strictEqual(H.field(update.body, "title"), "Add the login page")
        const noTask = yield* H.request(`${url}/api/devteam/repository/tasks/${ENCODED}/9.9.9`, {
          method: "PUT",
          token: t.user,
          body: { status: "skipped" }
        })
        assert.strictEqual(noTask.status, 404)
        assert.strictEqual(H.field(noTask.body, "_tag"), "TaskNotFound")
        const inject = yield* H.request(`${url}/api/devteam/tasks/inject`, {
          method: "POST",
          token: t.user,
          body: { projectId: PROJECT, task: { title: "Hotfix", description: "fix it" }, mode: "priority" }
        })
        assert.strictEqual(inject.status, 200, inject.text)
        assert.isString(H.field(inject.body, "taskId"))
        const next = yield* H.request(`${url}/tasks/next?projectId=${ENCODED}`, { token: t.user })
        assert.strictEqual(next.status, 200, next.text)
        assert.strictEqual(H.field(H.field(next.body, "task"), "title"), "Hotfix")
        const noParam = yield* H.request(`${url}/tasks/next`, { token: t.user })
        assert.strictEqual(noParam.status, 400)
        const prep = yield* H.request(`${url}/prep`, {
          method: "POST",
          token: t.user,
          body: { projectId: PROJECT, repoUrl, taskId: "1.1.1" }
        })
        assert.strictEqual(prep.status, 200, prep.text)
        assert.strictEqual(H.field(prep.body, "branch"), "task/1-1-1")
        // without projectId: the ad-hoc project of the repository
        const adhoc = yield* H.request(`${url}/prep`, {
          method: "POST",
          token: t.admin,
          body: { repoUrl, taskId: "1.1.1" }
        })
        assert.strictEqual(adhoc.status, 200, adhoc.text)
        assert.match(String(H.field(adhoc.body, "projectId")), /^adhoc\/[0-9a-f]{16}$/)
        const noBranch = yield* H.request(`${url}/implement`, {
          method: "POST",
          token: t.user,
          body: { projectId: PROJECT, taskId: "1.1.1", branch: "task/x", criteria: { description: "d" } }
        })
        assert.strictEqual(noBranch.status, 404, noBranch.text)
        assert.strictEqual(H.field(noBranch.body, "_tag"), "BranchNotFound")
        const verify = yield* H.request(`${url}/verify`, {
          method: "POST",
          token: t.user,
          body: { projectId: PROJECT, taskId: "1.1.1", branch: "task/x" }
        })
        assert.strictEqual(verify.status, 422, verify.text)
        assert.strictEqual(H.field(verify.body, "success"), false)
        const implement = yield* H.request(`${url}/implement`, {
          method: "POST",
          token: t.admin,
          body: { projectId: "acme/none", taskId: "1.1.1", branch: "task/x", criteria: { description: "d" } }
        })
        assert.strictEqual(implement.status, 404)
      }))

    it.effect("projects: egress additions must be on EGRESS_PROJECT_ALLOW (else 400, nothing registered or started)", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const t = yield* tokens
        const project = "acme/egress"
        const projectUrl = `${url}/api/devteam/projects/${encodeURIComponent(project)}`
        const refused = yield* H.request(projectUrl, {
          method: "PUT",
          token: t.customer,
          body: { repoUrl, egress: { verify: ["mirror.example.com", "evil.example.com"] } }
        })
        assert.strictEqual(refused.status, 400, refused.text)
        assert.include(H.field(refused.body, "message"), "egress.verify: evil.example.com not allowed")
        assert.include(H.field(refused.body, "message"), "EGRESS_PROJECT_ALLOW")
        assert.strictEqual((yield* H.request(projectUrl, { token: t.customer })).status, 404, "nothing registered")
        const malformed = yield* H.request(projectUrl, {
          method: "PUT",
          token: t.customer,
          body: { repoUrl, egress: { implement: ["https://models.example.com/v1"] } }
        })
        assert.strictEqual(malformed.status, 400, malformed.text)
        const egress = { implement: ["models.example.com:8443"], verify: ["mirror.example.com"] }
        const put = yield* H.request(projectUrl, { method: "PUT", token: t.customer, body: { repoUrl, egress } })
        assert.strictEqual(put.status, 200, put.text)
        assert.deepStrictEqual(H.field(H.field(put.body, "settings"), "egress"), egress)
        const init = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.customer,
          body: { projectId: project, egress: { implement: ["api.elsewhere.example"] } }
        })
        assert.strictEqual(init.status, 400, init.text)
        assert.include(H.field(init.body, "message"), "egress.implement: api.elsewhere.example not allowed")
        assert.strictEqual(
          H.field(H.field((yield* H.request(projectUrl, { token: t.customer })).body, "status"), "status"),
          "IDLE",
          "nothing started"
        )
      }))

    it.effect("projects: PUT / GET / list / DELETE; registered by PUT or /prep, every per-project route answers before any automation", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const t = yield* tokens
        const project = "acme/registered"
        const encoded = encodeURIComponent(project)
        const projectUrl = `${url}/api/devteam/projects/${encoded}`
        // unknown before anything names it
        assert.strictEqual((yield* H.request(projectUrl, { token: t.customer })).status, 404)
        const tooBig = yield* H.request(projectUrl, {
          method: "PUT",
          token: t.customer,
          body: { repoUrl, resources: { cpus: 8 } }
        })
        assert.strictEqual(tooBig.status, 400, tooBig.text)
        assert.include(H.field(tooBig.body, "message"), "SANDBOX_MAX_CPUS")
        assert.strictEqual(
          (yield* H.request(projectUrl, { token: t.customer })).status,
          404,
          "a refused PUT registers nothing"
        )
        const badRepo = yield* H.request(projectUrl, {
          method: "PUT",
          token: t.customer,
          body: { repoUrl: "--upload-pack=x" }
        })
        assert.strictEqual(badRepo.status, 400, badRepo.text)
        const settings = { repoUrl, tool: "script", script: "true", resources: { cpus: 2 } }
        const put = yield* H.request(projectUrl, { method: "PUT", token: t.customer, body: settings })
        assert.strictEqual(put.status, 200, put.text)
        assert.strictEqual(H.field(H.field(put.body, "settings"), "repoUrl"), repoUrl)
        assert.strictEqual(H.field(H.field(put.body, "settings"), "baseBranch"), "main")
        assert.strictEqual(H.field(H.field(put.body, "status"), "status"), "IDLE")
        // idempotent: the same settings again journal nothing new
        const again = yield* H.request(projectUrl, { method: "PUT", token: t.customer, body: settings })
        assert.strictEqual(again.status, 200, again.text)
        const journal = yield* H.request(`${url}/admin/projects/${encoded}/journal`, { token: t.admin })
        const configured = H.list(journal.body, "events").filter((e) => H.field(e, "type") === "ProjectConfigured")
        assert.strictEqual(configured.length, 1, journal.text)
        assert.strictEqual(H.field(H.field(configured[0], "data"), "by"), "bob")
        // every per-project route answers before any automation
        const status = yield* H.request(`${url}/api/devteam/automation/status/${encoded}`, { token: t.customer })
        assert.strictEqual(status.status, 200, status.text)
        assert.strictEqual(H.field(status.body, "status"), "IDLE")
        const tasks = yield* H.request(`${url}/api/devteam/repository/tasks/${encoded}`, { token: t.customer })
        assert.strictEqual(tasks.status, 200, tasks.text)
        assert.strictEqual(H.field(tasks.body, "totalTasks"), 3)
        const plan = yield* H.request(`${url}/api/devteam/repository/plan/${encoded}`, { token: t.customer })
        assert.strictEqual(plan.status, 200, plan.text)
        const next = yield* H.request(`${url}/tasks/next?projectId=${encoded}`, { token: t.customer })
        assert.strictEqual(next.status, 200, next.text)
        assert.isString(H.field(H.field(next.body, "task"), "id"))
        const update = yield* H.request(`${url}/api/devteam/repository/tasks/${encoded}/1.2.1`, {
          method: "PUT",
          token: t.customer,
          body: { title: "Renamed before any run" }
        })
        assert.strictEqual(update.status, 200, update.text)
        assert.strictEqual(H.field(update.body, "title"), "Renamed before any run")
        const inject = yield* H.request(`${url}/api/devteam/tasks/inject`, {
          method: "POST",
          token: t.customer,
          body: { projectId: project, task: { title: "Early", description: "" }, mode: "priority" }
        })
        assert.strictEqual(inject.status, 200, inject.text)
        for (const command of ["pause", "resume"]) {
          const res = yield* H.request(`${url}/api/devteam/automation/${command}/${encoded}`, {
            method: "POST",
            token: t.customer
          })
          assert.strictEqual(res.status, 409, `${command}: ${res.text}`)
        }
        // the list: the caller's projects, filtered and paged; nobody else's
        const second = yield* H.request(`${projectUrl}-2`, { method: "PUT", token: t.customer, body: { repoUrl } })
        assert.strictEqual(second.status, 200, second.text)
        const listed = yield* H.request(`${url}/api/devteam/projects?customerId=acme&limit=200`, { token: t.customer })
        assert.strictEqual(listed.status, 200, listed.text)
        const ids = H.list(listed.body, "projects").map((p) => H.field(p, "projectId"))
        assert.include(ids, project)
        assert.isTrue(ids.every((id) => String(id).startsWith("acme/")), String(ids))
        assert.strictEqual(H.field(listed.body, "total"), ids.length)
        const page = yield* H.request(`${url}/api/devteam/projects?limit=1&offset=1`, { token: t.customer })
        assert.strictEqual(H.list(page.body, "projects").length, 1, page.text)
        assert.strictEqual(H.field(H.list(page.body, "projects")[0], "projectId"), ids[1])
        const theirs = yield* H.request(`${url}/api/devteam/projects`, { token: t.other })
        assert.strictEqual(theirs.status, 200)
        assert.deepStrictEqual(H.list(theirs.body, "projects"), [])
        // initialize without repoUrl runs on the settings; a different repository → 409
        const other = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.customer,
          body: { projectId: project, repoUrl: "https://example.com/someone/else.git" }
        })
        assert.strictEqual(other.status, 409, other.text)
        assert.include(H.field(other.body, "message"), "registered with repository")
        const otherEvent = yield* H.request(`${url}/events`, {
          method: "POST",
          token: t.customer,
          body: {
            workflow_type: "DEVTEAM_AUTOMATION",
            data: { projectId: project, repoUrl: "https://example.com/x/y.git" }
          }
        })
        assert.strictEqual(otherEvent.status, 409, otherEvent.text)
        const unregistered = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.customer,
          body: { projectId: "acme/never-registered" }
        })
        assert.strictEqual(unregistered.status, 400, unregistered.text)
        // a non-admin's execution is recorded for the token's user and customer, whatever the body says
        const init = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.customer,
          body: { projectId: project, userId: "eve", customerId: "evil" }
        })
        assert.strictEqual(init.status, 202, init.text)
        // settings change and delete wait for no active execution
        const busyPut = yield* H.request(projectUrl, { method: "PUT", token: t.customer, body: { repoUrl } })
        const busyDelete = yield* H.request(projectUrl, { method: "DELETE", token: t.customer })
        assert.strictEqual(busyDelete.status, 409, busyDelete.text)
        assert.strictEqual(busyPut.status, 409, busyPut.text)
        yield* waitFor(url, t.customer, project, (s) => s === "COMPLETED")
        const history = yield* H.request(`${url}/api/devteam/executions/history/bob`, { token: t.customer })
        const run = (Array.isArray(history.body) ? history.body : []).find((e) => H.field(e, "projectId") === project)
        const detail = yield* H.request(`${url}/api/devteam/executions/${String(H.field(run, "executionId"))}`, {
          token: t.customer
        })
        assert.strictEqual(H.field(H.field(detail.body, "config"), "tool"), "script", detail.text)
        assert.strictEqual(H.field(H.field(H.field(detail.body, "config"), "resources"), "cpus"), 2)
        assert.strictEqual(H.field(detail.body, "userId"), "bob")
        assert.strictEqual(H.field(detail.body, "customerId"), "acme")
        // audit: every entry a caller caused names them; the pipeline's own steps name nobody
        const audit = H.list(
          (yield* H.request(`${url}/admin/projects/${encoded}/journal?limit=1000`, { token: t.admin })).body,
          "events"
        )
        const byType = (type: string) => audit.filter((e) => H.field(e, "type") === type)
        for (const type of ["ProjectConfigured", "TaskUpdated", "TaskInjected", "ExecutionInitialized"]) {
          assert.isNotEmpty(byType(type), type)
          for (const e of byType(type)) {
            assert.strictEqual(H.field(e, "principal"), "bob", `${type}: ${JSON.stringify(e)}`)
          }
        }
        assert.isNotEmpty(byType("StepStarted"))
        for (const e of byType("StepStarted")) assert.isUndefined(H.field(e, "principal"))
        // delete: the project is unknown again, its journal stays
        const deleted = yield* H.request(projectUrl, { method: "DELETE", token: t.customer })
        assert.strictEqual(deleted.status, 200, deleted.text)
        assert.strictEqual(H.field(deleted.body, "deleted"), true)
        assert.strictEqual((yield* H.request(projectUrl, { token: t.customer })).status, 404)
        const gone = yield* H.request(`${url}/api/devteam/automation/status/${encoded}`, { token: t.customer })
        assert.strictEqual(gone.status, 404, gone.text)
        // commands too, although this gateway knew the project (paused it above) before the delete
        const goneCommand = yield* H.request(`${url}/api/devteam/automation/pause/${encoded}`, {
          method: "POST",
          token: t.customer
        })
        assert.strictEqual(goneCommand.status, 404, goneCommand.text)
        const kept = yield* H.request(`${url}/admin/projects/${encoded}/journal?limit=1000`, { token: t.admin })
        const types = H.list(kept.body, "events").map((e) => H.field(e, "type"))
        assert.include(types, "ExecutionCompleted")
        assert.strictEqual(types[types.length - 1], "ProjectDeleted")
        // POST /prep naming a repository registers the project too
        const prepped = "acme/prepped"
        const prepEncoded = encodeURIComponent(prepped)
        const prep = yield* H.request(`${url}/prep`, {
          method: "POST",
          token: t.customer,
          body: { projectId: prepped, repoUrl, taskId: "1.1.1" }
        })
        assert.strictEqual(prep.status, 200, prep.text)
        const preppedView = yield* H.request(`${url}/api/devteam/projects/${prepEncoded}`, { token: t.customer })
        assert.strictEqual(preppedView.status, 200, preppedView.text)
        assert.strictEqual(H.field(H.field(preppedView.body, "settings"), "repoUrl"), repoUrl)
        const preppedTasks = yield* H.request(`${url}/api/devteam/repository/tasks/${prepEncoded}`, {
          token: t.customer
        })
        assert.strictEqual(preppedTasks.status, 200, preppedTasks.text)
        const preppedPause = yield* H.request(`${url}/api/devteam/automation/pause/${prepEncoded}`, {
          method: "POST",
          token: t.customer
        })
        assert.strictEqual(preppedPause.status, 409, preppedPause.text)
        const preppedOther = yield* H.request(`${url}/prep`, {
          method: "POST",
          token: t.customer,
          body: { projectId: prepped, repoUrl: "https://example.com/x/y.git", taskId: "1.1.1" }
        })
        assert.strictEqual(preppedOther.status, 409, preppedOther.text)
      }))

    it.effect("executions, errors, admin: own history, other users' 403, journal paging, cluster, metrics", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const t = yield* tokens
        yield* waitFor(url, t.user, PROJECT, (s) => s === "COMPLETED")
        const active = yield* H.request(`${url}/api/devteam/executions/active/alice`, { token: t.user })
        assert.strictEqual(active.status, 200)
        const history = yield* H.request(`${url}/api/devteam/executions/history/alice?limit=5`, { token: t.user })
        assert.strictEqual(history.status, 200, history.text)
        assert.isTrue(Array.isArray(history.body) && history.body.length >= 1)
        const mine = (Array.isArray(history.body) ? history.body : []).find((e) => H.field(e, "projectId") === PROJECT)
        const executionId = String(H.field(mine, "executionId"))
        const others = yield* H.request(`${url}/api/devteam/executions/history/alice`, { token: t.other })
        assert.strictEqual(others.status, 403)
        const asAdmin = yield* H.request(`${url}/api/devteam/executions/history/alice`, { token: t.admin })
        assert.strictEqual(asAdmin.status, 200)
        const badLimit = yield* H.request(`${url}/api/devteam/executions/history/alice?limit=500`, { token: t.user })
        assert.strictEqual(badLimit.status, 400)
        assert.include(String(H.field(badLimit.body, "message")), "limit")
        const detail = yield* H.request(`${url}/api/devteam/executions/${executionId}`, { token: t.user })
        assert.strictEqual(detail.status, 200, detail.text)
        assert.strictEqual(H.field(detail.body, "projectId"), PROJECT)
        assert.isAbove(H.list(detail.body, "tasks").length, 0)
        assert.strictEqual(
          (yield* H.request(`${url}/api/devteam/executions/${executionId}`, { token: t.other })).status,
          403
        )
        const noError = yield* H.request(
          `${url}/api/devteam/errors/${executionId}/00000000-0000-4000-8000-000000000000`,
          { token: t.user }
        )
        assert.strictEqual(noError.status, 404)
        assert.strictEqual(H.field(noError.body, "_tag"), "ErrorNotFound")

        const projects = yield* H.request(`${url}/admin/projects`, { token: t.admin })
        assert.strictEqual(projects.status, 200)
        const journal = yield* H.request(`${url}/admin/projects/${ENCODED}/journal?after=0&limit=3`, { token: t.admin })
        assert.strictEqual(journal.status, 200, journal.text)
        const events = H.list(journal.body, "events")
        assert.deepStrictEqual(events.map((e) => H.field(e, "seq")), [1, 2, 3])
        assert.strictEqual(H.field(events[0], "type"), "ExecutionInitialized")
        assert.strictEqual(H.field(journal.body, "nextAfter"), 3)
        const page2 = yield* H.request(`${url}/admin/projects/${ENCODED}/journal?after=3&limit=1000`, {
          token: t.admin
        })
        assert.strictEqual(H.field(H.list(page2.body, "events")[0], "seq"), 4)
        assert.strictEqual(H.field(page2.body, "nextAfter"), null)
        const cluster = yield* H.request(`${url}/admin/cluster`, { token: t.admin })
        assert.strictEqual(cluster.status, 200, cluster.text)
        assert.strictEqual(H.list(cluster.body, "runners").length, 1)
        const metrics = yield* H.request(`${url}/metrics`, { token: t.admin })
        assert.strictEqual(metrics.status, 200)
        assert.match(metrics.headers.get("content-type") ?? "", /text\/plain/)
        const families = parseExposition(metrics.text)
        const latency = "devteam_http_request_duration_seconds"
        const statusRoute = { route: "/api/devteam/automation/status/:projectId", method: "GET", status: "200" }
        assert.isAtLeast(sampleOf(families, latency, `${latency}_bucket`, { ...statusRoute, le: "+Inf" }).value, 1)
        assert.isAtLeast(
          sampleOf(families, "devteam_http_requests_total", "devteam_http_requests_total", statusRoute).value,
          1
        )
        assert.isAtLeast(
          sampleOf(families, "devteam_executions", "devteam_executions", { status: "COMPLETED" }).value,
          1
        )
        const steps = "devteam_step_duration_seconds"
        assert.isAtLeast(sampleOf(families, steps, `${steps}_count`, { step: "IMPLEMENT" }).value, 1)
        assert.strictEqual(families.get("devteam_ws_connections")?.type, "gauge")
        assert.strictEqual(families.get("devteam_queue_depth")?.type, "gauge")
      }))

    it.effect("authorisation matrix: every route × no token / other project / plain user / admin", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const t = yield* tokens
        yield* waitFor(url, t.user, PROJECT, (s) => s === "COMPLETED")
        const history = yield* H.request(`${url}/api/devteam/executions/history/alice`, { token: t.user })
        const mine = (Array.isArray(history.body) ? history.body : []).find((e) => H.field(e, "projectId") === PROJECT)
        const executionId = String(H.field(mine, "executionId"))
        const events = yield* H.request(`${url}/events`, {
          method: "POST",
          token: t.user,
          body: { workflow_type: "DEVTEAM_AUTOMATION", data: { projectId: PROJECT } }
        })
        assert.strictEqual(events.status, 202, events.text)
        const eventId = String(H.field(events.body, "event_id"))
        yield* waitFor(url, t.user, PROJECT, (s) => s === "COMPLETED")
        type Who = "none" | "other" | "user" | "admin"
        interface Route {
          readonly method: string
          readonly path: string
          readonly body?: unknown
          /** Expected for the caller without access ("other"): 403 unless stated. */
          readonly other?: ReadonlyArray<number>
          readonly adminOnly?: boolean
        }
        const routes: ReadonlyArray<Route> = [
          {
            method: "POST",
            path: "/events",
            body: { workflow_type: "DEVTEAM_AUTOMATION", data: { projectId: PROJECT } }
          },
          { method: "GET", path: `/events/${eventId}` },
          { method: "POST", path: "/prep", body: { projectId: PROJECT, repoUrl, taskId: "1.1.1" } },
          {
            method: "POST",
            path: "/implement",
            body: { projectId: PROJECT, taskId: "1.1.1", branch: "task/x", criteria: { description: "d" } }
          },
          { method: "POST", path: "/verify", body: { projectId: PROJECT, taskId: "1.1.1", branch: "task/x" } },
          { method: "GET", path: `/tasks/next?projectId=${ENCODED}` },
          { method: "POST", path: "/api/devteam/automation/initialize", body: { projectId: PROJECT, repoUrl } },
          { method: "GET", path: `/api/devteam/automation/status/${ENCODED}` },
          { method: "PUT", path: `/api/devteam/projects/${ENCODED}`, body: { repoUrl } },
          { method: "GET", path: `/api/devteam/projects/${ENCODED}` },
          // everyone may list: the list holds only the caller's projects
          { method: "GET", path: "/api/devteam/projects", other: [200] },
          { method: "DELETE", path: `/api/devteam/projects/${encodeURIComponent("acme/matrix-del")}` },
          { method: "POST", path: `/api/devteam/automation/pause/${ENCODED}` },
          { method: "POST", path: `/api/devteam/automation/resume/${ENCODED}` },
          { method: "POST", path: `/api/devteam/automation/stop/${ENCODED}` },
          { method: "POST", path: "/api/devteam/repository/validate", body: { repoUrl }, other: [200] },
          { method: "GET", path: `/api/devteam/repository/tasks/${ENCODED}` },
          { method: "GET", path: `/api/devteam/repository/plan/${ENCODED}` },
          { method: "PUT", path: `/api/devteam/repository/tasks/${ENCODED}/1.1.2`, body: { description: "more" } },
          {
            method: "POST",
            path: "/api/devteam/tasks/inject",
            body: { projectId: PROJECT, task: { title: "T", description: "" }, mode: "priority" }
          },
          { method: "GET", path: "/api/devteam/executions/active/alice" },
          { method: "GET", path: "/api/devteam/executions/history/alice" },
          { method: "GET", path: `/api/devteam/executions/${executionId}` },
          {
            method: "GET",
            path: `/api/devteam/errors/${executionId}/00000000-0000-4000-8000-000000000000`,
            other: [404]
          },
          { method: "GET", path: "/admin/projects", adminOnly: true },
          { method: "GET", path: `/admin/projects/${ENCODED}/journal`, adminOnly: true },
          { method: "GET", path: "/admin/cluster", adminOnly: true },
          { method: "GET", path: "/metrics", adminOnly: true }
        ]
        const tokenOf: Record<Who, string | undefined> = {
          none: undefined,
          other: t.other,
          user: t.user,
          admin: t.admin
        }
        const seqBefore = yield* lastSeq(url, t.admin, PROJECT)
        // refused callers first: nothing they send may change the project
        for (const who of ["none", "other"] as const) {
          for (const route of routes) {
            const res = yield* H.request(`${url}${route.path}`, {
              method: route.method,
              token: tokenOf[who],
              body: route.body
            })
            const expected = who === "none" ? [401] : route.other ?? [403]
            assert.include(expected, res.status, `${who} ${route.method} ${route.path}: ${res.text}`)
            if (res.status >= 400) {
              assert.isString(H.field(res.body, "_tag"), `${who} ${route.method} ${route.path}: ${res.text}`)
            }
          }
        }
        assert.strictEqual(yield* lastSeq(url, t.admin, PROJECT), seqBefore)
        // a customer token reaches its customer's projects
        const customer = yield* H.request(`${url}/api/devteam/automation/status/${ENCODED}`, { token: t.customer })
        assert.strictEqual(customer.status, 200)
        for (const who of ["user", "admin"] as const) {
          for (const route of routes) {
            const res = yield* H.request(`${url}${route.path}`, {
              method: route.method,
              token: tokenOf[who],
              body: route.body
            })
            const refused = who === "user" && route.adminOnly === true
            if (refused) assert.strictEqual(res.status, 403, `${who} ${route.method} ${route.path}`)
            else assert.notInclude([401, 403], res.status, `${who} ${route.method} ${route.path}: ${res.text}`)
          }
        }
        // /health needs no token
        assert.include([200, 503], (yield* H.request(`${url}/health`)).status)
      }))

    it.effect("idempotency: replay with header, 422 on a different body, concurrent duplicates → one execution", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const t = yield* tokens
        const project = "acme/idem"
        const body = { projectId: project, repoUrl, idempotencyKey: "init-key-1" }
        const first = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.user,
          body
        })
        assert.strictEqual(first.status, 202, first.text)
        assert.isNull(first.headers.get("idempotent-replayed"))
        const replay = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.user,
          body
        })
        assert.strictEqual(replay.status, 202)
        assert.strictEqual(replay.headers.get("idempotent-replayed"), "true")
        assert.deepStrictEqual(replay.body, first.body)
        const mismatch = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.user,
          body: { ...body, baseBranch: "develop" }
        })
        assert.strictEqual(mismatch.status, 422)
        assert.strictEqual(H.field(mismatch.body, "_tag"), "IdempotencyKeyMismatch")
        // header key on a control command: the replay does nothing again
        const pause = yield* H.request(`${url}/api/devteam/automation/pause/${encodeURIComponent(project)}`, {
          method: "POST",
          token: t.user,
          headers: { "idempotency-key": "pause-1" }
        })
        assert.strictEqual(pause.status, 200, pause.text)
        yield* waitFor(url, t.user, project, (s) => s === "PAUSED")
        const seq = yield* lastSeq(url, t.admin, project)
        const pauseReplay = yield* H.request(`${url}/api/devteam/automation/pause/${encodeURIComponent(project)}`, {
          method: "POST",
          token: t.user,
          headers: { "idempotency-key": "pause-1" }
        })
        assert.strictEqual(pauseReplay.status, 200)
        assert.strictEqual(pauseReplay.headers.get("idempotent-replayed"), "true")
        assert.deepStrictEqual(pauseReplay.body, pause.body)
        assert.strictEqual(yield* lastSeq(url, t.admin, project), seq)
        // keys are scoped per caller: the same key from another caller is a different request
        const otherCaller = yield* H.request(`${url}/api/devteam/automation/pause/${encodeURIComponent(project)}`, {
          method: "POST",
          token: t.admin,
          headers: { "idempotency-key": "pause-1" }
        })
        assert.strictEqual(otherCaller.status, 409)

        // concurrent duplicates of POST /events: one execution, every answer the same
        const conc = "acme/conc"
        const send = H.request(`${url}/events`, {
          method: "POST",
          token: t.user,
          headers: { "idempotency-key": "event-conc-1" },
          body: { workflow_type: "DEVTEAM_AUTOMATION", data: { projectId: conc, repoUrl } }
        })
        const replies = yield* Effect.all(Array.from({ length: 8 }, () => send), { concurrency: "unbounded" })
        const statuses = replies.map((r) => r.status)
        assert.deepStrictEqual([...new Set(statuses)], [202], JSON.stringify(replies.map((r) => r.text)))
        assert.strictEqual(new Set(replies.map((r) => H.field(r.body, "task_id"))).size, 1)
        assert.strictEqual(replies.filter((r) => r.headers.get("idempotent-replayed") === null).length, 1)
        const journal = yield* H.request(`${url}/admin/projects/${encodeURIComponent(conc)}/journal?limit=1000`, {
          token: t.admin
        })
        const initialized = H.list(journal.body, "events").filter((e) => H.field(e, "type") === "ExecutionInitialized")
        assert.strictEqual(initialized.length, 1)
      }))

    it.effect("bad input: 413 over 1 MiB (with and without Content-Length), malformed JSON 400, schema path in message", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const t = yield* tokens
        const big = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: t.admin,
          rawBody: JSON.stringify({ projectId: "a/b", repoUrl: "x".repeat(1024 * 1024) })
        })
        assert.strictEqual(big.status, 413)
        assert.strictEqual(H.field(big.body, "_tag"), "PayloadTooLarge")
        const chunk = "x".repeat(64 * 1024)
        const chunked = yield* chunkedPost(`${url}/api/devteam/automation/initialize`, t.admin, [
          `{"projectId":"a/b","repoUrl":"`,
          ...Array.from({ length: 17 }, () => chunk),
          `"}`
        ])
        // the reader stops at the limit: 413, or the connection is closed while the client still writes
        assert.include([413, -1], chunked)
        assert.strictEqual(
          (yield* H.request(`${url}/api/devteam/automation/status/a%2Fb`, { token: t.admin })).status,
          404
        )
        const malformed = yield* H.request(`${url}/api/devteam/tasks/inject`, {
          method: "POST",
          token: t.admin,
          rawBody: "{\"projectId\": "
        })
        assert.strictEqual(malformed.status, 400)
        assert.deepStrictEqual(Object.keys(malformed.body ?? {}).sort(), ["_tag", "message"])
        const schema = yield* H.request(`${url}/api/devteam/tasks/inject`, {
          method: "POST",
          token: t.admin,
          body: { projectId: PROJECT, task: { title: 5, description: "" }, mode: "priority" }
        })
        assert.strictEqual(schema.status, 400)
        assert.isString(H.field(schema.body, "_tag"))
        assert.include(String(H.field(schema.body, "message")), "title")
        const unknownRoute = yield* H.request(`${url}/api/devteam/nothing`, { token: t.admin })
        assert.strictEqual(unknownRoute.status, 404)
        assert.strictEqual(H.field(unknownRoute.body, "_tag"), "NotFound")
      }))
  })
})
