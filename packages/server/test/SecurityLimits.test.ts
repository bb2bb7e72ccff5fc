/**
 * Security suite (issue 20): the service's own outbound connections at the edge (finding 4) and
 * the limits a caller cannot push past (finding 5), against the real gateway + runner + cluster
 * (embedded storage, placeholder steps), plus the Node server's request timeouts and /health's
 * own bounds.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either } from "effect"
import * as Net from "node:net"
import { WebSocket } from "ws"
import * as HealthCheck from "../src/HealthCheck.js"
import { createServerWith, type HttpTimeouts, HttpTimeoutsConfig } from "../src/HttpTimeouts.js"
import * as H from "./fixtures/GatewayHarness.js"

const tokens = await (async () => ({
  bob: await H.sign({ sub: "bob", customerId: "acme" }),
  carol: await H.sign({ sub: "carol", customerId: "beta" }),
  dave: await H.sign({ sub: "dave", customerId: "delta" })
}))()

const status = (url: string, token: string, projectId: string) =>
  Effect.map(
    H.request(`${url}/api/devteam/automation/status/${encodeURIComponent(projectId)}`, { token }),
    (res) => ({ code: res.status, status: H.field(res.body, "status") })
  )

const waitForStatus = (url: string, token: string, projectId: string, wanted: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const now = yield* status(url, token, projectId)
      if (now.code === 200 && typeof now.status === "string" && wanted.includes(now.status)) return now.status
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.dieMessage(`${projectId} did not reach ${wanted.join("/")}`)
  })

/** A TCP listener on 127.0.0.1 that counts the connections it gets (it answers nothing). */
const listener = Effect.acquireRelease(
  Effect.async<{ readonly server: Net.Server; readonly port: number; connections: number }>((resume) => {
    const state = { server: Net.createServer(), port: 0, connections: 0 }
    state.server.on("connection", (socket) => {
      state.connections++
      socket.destroy()
    })
    state.server.listen(0, "127.0.0.1", () => {
      const address = state.server.address()
      state.port = address !== null && typeof address === "object" ? address.port : 0
      resume(Effect.succeed(state))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

/** Opens a WebSocket; the HTTP status of the upgrade (101 when open) and the socket. */
const openSocket = (url: string, token: string) =>
  Effect.promise(() =>
    new Promise<{ readonly status: number; readonly ws: WebSocket }>((resolve) => {
      const ws = new WebSocket(`${url.replace("http://", "ws://")}/ws/devteam?token=${token}`)
      ws.on("open", () => resolve({ status: 101, ws }))
      ws.on("unexpected-response", (_req, res) => {
        res.resume()
        resolve({ status: res.statusCode ?? 0, ws })
      })
      ws.on("error", () => resolve({ status: 0, ws }))
    })
  )

describe("Security: outbound connections and limits (auth on)", () => {
  layer(
    H.layer({
      jwt: true,
      // an execution holds the single slot long enough for the next one to stay QUEUED
      stepDuration: "20 seconds",
      env: {
        MAX_INJECTED_TASKS: "3",
        MAX_PROJECTS_PER_CUSTOMER: "3",
        MAX_QUEUED_PER_CUSTOMER: "1",
        MAX_CONCURRENT_EXECUTIONS: "1",
        WS_MAX_CONNECTIONS_PER_USER: "2"
      }
    }),
    { timeout: 120_000, excludeTestServices: true }
  )((it) => {
    it.effect("finding 4: validate, register, initialize and /prep of a loopback / metadata repository → 400, nothing connects", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const target = yield* listener
        const urls = [
          `http://127.0.0.1:${target.port}/evil/repo.git`,
          `http://localhost:${target.port}/evil/repo.git`,
          `http://2130706433:${target.port}/evil/repo.git`,
          `http://[::ffff:127.0.0.1]:${target.port}/evil/repo.git`,
          "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
        ]
        for (const repoUrl of urls) {
          const validate = yield* H.request(`${url}/api/devteam/repository/validate`, {
            method: "POST",
            token: tokens.bob,
            body: { repoUrl }
          })
          assert.strictEqual(validate.status, 400, validate.text)
          assert.strictEqual(H.field(validate.body, "_tag"), "InvalidRepoUrl")
          assert.include(validate.text, "not allowed")
          const register = yield* H.request(`${url}/api/devteam/projects/${encodeURIComponent("acme/evil")}`, {
            method: "PUT",
            token: tokens.bob,
            body: { repoUrl }
          })
          assert.strictEqual(register.status, 400, register.text)
          const initialize = yield* H.request(`${url}/api/devteam/automation/initialize`, {
            method: "POST",
            token: tokens.bob,
            body: { projectId: "acme/evil", repoUrl }
          })
          assert.strictEqual(initialize.status, 400, initialize.text)
          const prep = yield* H.request(`${url}/prep`, {
            method: "POST",
            token: tokens.bob,
            body: { projectId: "acme/evil", repoUrl, taskId: "1.1.1" }
          })
          assert.strictEqual(prep.status, 400, prep.text)
          const event = yield* H.request(`${url}/events`, {
            method: "POST",
            token: tokens.bob,
            body: { workflow_type: "DEVTEAM_AUTOMATION", data: { projectId: "acme/evil", repoUrl } }
          })
          assert.strictEqual(event.status, 400, event.text)
        }
        assert.strictEqual(target.connections, 0, "the service connected to nothing")
        assert.strictEqual((yield* status(url, tokens.bob, "acme/evil")).code, 404, "no project was registered")
      }).pipe(Effect.scoped))

    it.effect("finding 5: injections per project capped (400 naming MAX_INJECTED_TASKS); GET tasks pages", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const projectId = "acme/inject"
        const path = encodeURIComponent(projectId)
        const put = yield* H.request(`${url}/api/devteam/projects/${path}`, {
          method: "PUT",
          token: tokens.bob,
          body: { repoUrl }
        })
        assert.strictEqual(put.status, 200, put.text)
        const inject = (n: number) =>
          H.request(`${url}/api/devteam/tasks/inject`, {
            method: "POST",
            token: tokens.bob,
            body: { projectId, task: { title: `Injected ${n}`, description: "x".repeat(20_000) }, mode: "priority" }
          })
        for (const n of [1, 2, 3]) assert.strictEqual((yield* inject(n)).status, 200)
        const refused = yield* inject(4)
        assert.strictEqual(refused.status, 400, refused.text)
        assert.include(refused.text, "MAX_INJECTED_TASKS=3")

        const all = yield* H.request(`${url}/api/devteam/repository/tasks/${path}`, { token: tokens.bob })
        assert.strictEqual(all.status, 200, all.text)
        const everyTask = H.field(all.body, "tasks")
        const count = Array.isArray(everyTask) ? everyTask.length : 0
        assert.strictEqual(H.field(all.body, "totalTasks"), 6, "3 in the list + 3 injected")
        assert.isAtLeast(count, 6, "no limit: every entry (the contract's default)")
        assert.isUndefined(H.field(all.body, "nextOffset"))
        const first = yield* H.request(`${url}/api/devteam/repository/tasks/${path}?limit=4`, { token: tokens.bob })
        assert.strictEqual(first.status, 200, first.text)
        const firstTasks = H.field(first.body, "tasks")
        assert.lengthOf(Array.isArray(firstTasks) ? firstTasks : [], 4)
        assert.strictEqual(H.field(first.body, "nextOffset"), 4)
        assert.strictEqual(H.field(first.body, "totalTasks"), 6, "figures of the whole list")
        const second = yield* H.request(`${url}/api/devteam/repository/tasks/${path}?limit=1000&offset=4`, {
          token: tokens.bob
        })
        const secondTasks = H.field(second.body, "tasks")
        assert.lengthOf(Array.isArray(secondTasks) ? secondTasks : [], count - 4)
        assert.isUndefined(H.field(second.body, "nextOffset"))
        const pageIds = [
          ...(Array.isArray(firstTasks) ? firstTasks : []),
          ...(Array.isArray(secondTasks) ? secondTasks : [])
        ]
          .map((t: unknown) => H.field(t, "id"))
        assert.deepStrictEqual(
          pageIds,
          (Array.isArray(everyTask) ? everyTask : []).map((t: unknown) => H.field(t, "id"))
        )
        for (const query of ["limit=0", "limit=1001", "offset=-1", "limit=two"]) {
          const bad = yield* H.request(`${url}/api/devteam/repository/tasks/${path}?${query}`, { token: tokens.bob })
          assert.strictEqual(bad.status, 400, `${query}: ${bad.text}`)
        }
      }))

    it.effect("finding 5: per customer, MAX_QUEUED_PER_CUSTOMER executions waiting and MAX_PROJECTS_PER_CUSTOMER projects (400, nothing stored)", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const initialize = (projectId: string) =>
          H.request(`${url}/api/devteam/automation/initialize`, {
            method: "POST",
            token: tokens.carol,
            body: { projectId, repoUrl }
          })
        assert.strictEqual((yield* initialize("beta/p1")).status, 202)
        yield* waitForStatus(url, tokens.carol, "beta/p1", [
          "SELECTING",
          "PREPARING",
          "IMPLEMENTING",
          "VERIFYING",
          "MERGING",
          "PUSHING"
        ])
        assert.strictEqual((yield* initialize("beta/p2")).status, 202)
        yield* waitForStatus(url, tokens.carol, "beta/p2", ["QUEUED"])
        const third = yield* initialize("beta/p3")
        assert.strictEqual(third.status, 400, third.text)
        assert.include(third.text, "MAX_QUEUED_PER_CUSTOMER=1")
        assert.strictEqual((yield* status(url, tokens.carol, "beta/p3")).code, 404, "nothing stored for p3")

        const register = (projectId: string) =>
          H.request(`${url}/api/devteam/projects/${encodeURIComponent(projectId)}`, {
            method: "PUT",
            token: tokens.carol,
            body: { repoUrl }
          })
        assert.strictEqual((yield* register("beta/p3")).status, 200, "the third project")
        const fourth = yield* register("beta/p4")
        assert.strictEqual(fourth.status, 400, fourth.text)
        assert.include(fourth.text, "MAX_PROJECTS_PER_CUSTOMER=3")
        assert.strictEqual((yield* register("beta/p3")).status, 200, "changing a registered project is not capped")
        // another customer is not affected by beta's projects
        assert.strictEqual(
          (yield* H.request(`${url}/api/devteam/projects/${encodeURIComponent("acme/other")}`, {
            method: "PUT",
            token: tokens.bob,
            body: { repoUrl }
          })).status,
          200
        )
        for (const projectId of ["beta/p1", "beta/p2"]) {
          yield* H.request(`${url}/api/devteam/automation/stop/${encodeURIComponent(projectId)}`, {
            method: "POST",
            token: tokens.carol
          })
        }
      }))

    it.effect("finding 5: WS_MAX_CONNECTIONS_PER_USER open WebSockets per user; one more → 429 before the upgrade", () =>
      Effect.gen(function*() {
        const { url } = yield* H.TestServer
        const first = yield* openSocket(url, tokens.dave)
        const second = yield* openSocket(url, tokens.dave)
        assert.deepStrictEqual([first.status, second.status], [101, 101])
        const third = yield* openSocket(url, tokens.dave)
        assert.strictEqual(third.status, 429)
        // another user is not affected
        const other = yield* openSocket(url, tokens.bob)
        assert.strictEqual(other.status, 101)
        other.ws.close()
        // closing one frees its place
        yield* Effect.promise(() =>
          new Promise<void>((resolve) => {
            first.ws.once("close", () => resolve())
            first.ws.close()
          })
        )
        let again = yield* openSocket(url, tokens.dave)
        for (let i = 0; i < 50 && again.status === 429; i++) {
          yield* Effect.sleep("50 millis")
          again = yield* openSocket(url, tokens.dave)
        }
        assert.strictEqual(again.status, 101)
        again.ws.close()
        second.ws.close()
      }))
  })
})

describe("Security: task-list size (local-only mode)", () => {
  layer(H.layer({ jwt: false, env: { TASKLIST_MAX_TASKS: "2" } }), { timeout: 60_000, excludeTestServices: true })(
    (it) => {
      it.effect("finding 5: a task list over TASKLIST_MAX_TASKS → 400 naming the limit on tasks and plan", () =>
        Effect.gen(function*() {
          const { repoUrl, url } = yield* H.TestServer
          const path = encodeURIComponent("local/big")
          const put = yield* H.request(`${url}/api/devteam/projects/${path}`, { method: "PUT", body: { repoUrl } })
          assert.strictEqual(put.status, 200, put.text)
          for (const route of ["repository/tasks", "repository/plan"]) {
            const res = yield* H.request(`${url}/api/devteam/${route}/${path}`)
            assert.strictEqual(res.status, 400, `${route}: ${res.text}`)
            assert.include(res.text, "TASKLIST_MAX_TASKS")
          }
        }))
    }
  )
})

describe("Security: request timeouts and /health's own bounds", () => {
  it.scopedLive("finding 5: a request body trickling in is cut after HTTP_REQUEST_TIMEOUT (408), not Node's 300 s", () =>
    Effect.gen(function*() {
      const server = createServerWith({
        headers: Duration.seconds(1),
        request: Duration.seconds(2),
        keepAlive: Duration.seconds(65)
      })()
      server.on("request", (request, response) => {
        request.resume()
        request.on("end", () => response.end("ok"))
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => server.close()))
      const port = yield* Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed(address !== null && typeof address === "object" ? address.port : 0))
        })
      })
      const outcome = yield* Effect.async<{ readonly reply: string; readonly sent: number }>((resume) => {
        const socket = Net.connect(port, "127.0.0.1")
        let reply = ""
        let sent = 0
        const drip = setInterval(() => {
          if (socket.writable && sent < 100) {
            socket.write("x")
            sent++
          }
        }, 200)
        socket.on("data", (chunk) => (reply += chunk.toString("utf8")))
        socket.on("error", () => undefined)
        socket.on("close", () => {
          clearInterval(drip)
          resume(Effect.succeed({ reply, sent }))
        })
        socket.write(
          "POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n"
        )
      }).pipe(Effect.timeout("15 seconds"))
      assert.match(outcome.reply, /^HTTP\/1\.1 408/, outcome.reply)
      assert.isBelow(outcome.sent, 100, "cut before the body was complete")

      const read = (entries: ReadonlyArray<readonly [string, string]>) =>
        Effect.either(HttpTimeoutsConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))))
      const defaults = yield* read([])
      assert.isTrue(Either.isRight(defaults))
      const inverted = yield* read([["HTTP_HEADERS_TIMEOUT", "20 seconds"], ["HTTP_REQUEST_TIMEOUT", "10 seconds"]])
      assert.isTrue(Either.isLeft(inverted) && String(inverted.left).includes("HTTP_REQUEST_TIMEOUT"))
    }))

  it.scopedLive("an idle keep-alive connection stays open HTTP_KEEP_ALIVE_TIMEOUT (65 s, not Node's 5 s), then closes", () =>
    Effect.gen(function*() {
      const read = (entries: ReadonlyArray<readonly [string, string]>) =>
        Effect.either(HttpTimeoutsConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))))
      const tooShort = yield* read([["HTTP_KEEP_ALIVE_TIMEOUT", "500 millis"]])
      assert.isTrue(Either.isLeft(tooShort) && String(tooShort.left).includes("HTTP_KEEP_ALIVE_TIMEOUT"))
      /** One request on a raw connection: the response's head, and when the idle connection closed. */
      const exchange = (timeouts: HttpTimeouts) =>
        Effect.gen(function*() {
          const server = createServerWith(timeouts)()
          server.on("request", (_request, response) => response.end("ok"))
          yield* Effect.addFinalizer(() => Effect.sync(() => server.close()))
          const port = yield* Effect.async<number>((resume) => {
            server.listen(0, "127.0.0.1", () => {
              const address = server.address()
              resume(Effect.succeed(address !== null && typeof address === "object" ? address.port : 0))
            })
          })
          return yield* Effect.async<{ readonly head: string; readonly idleMillis: number }>((resume) => {
            const socket = Net.connect(port, "127.0.0.1")
            let head = ""
            let answeredAt = 0
            socket.on("data", (chunk) => {
              head += chunk.toString("utf8")
              answeredAt = Date.now()
            })
            socket.on("error", () => undefined)
            socket.on("close", () => resume(Effect.succeed({ head, idleMillis: Date.now() - answeredAt })))
            socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
          })
        })
      // the default: clients learn 65 s from the response (Node's agent drops its socket before that)
      const defaults = yield* Effect.orDie(
        HttpTimeoutsConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      const server = createServerWith(defaults)()
      yield* Effect.addFinalizer(() => Effect.sync(() => server.close()))
      assert.strictEqual(server.keepAliveTimeout, 65_000)
      // enforced: with 2 s, the idle connection is closed after 2 s, not Node's 5
      const short = yield* exchange({ ...defaults, keepAlive: Duration.seconds(2) }).pipe(Effect.timeout("15 seconds"))
      assert.match(short.head, /^HTTP\/1\.1 200/)
      assert.match(short.head, /keep-alive: timeout=2\r\n/i)
      assert.isAtLeast(short.idleMillis, 1_900)
      assert.isBelow(short.idleMillis, 4_500)
    }))

  it.live("finding 5: /health runs its probes once per HEALTH_CACHE_TTL however many callers, each bounded by HEALTH_CHECK_TIMEOUT", () =>
    Effect.gen(function*() {
      let runs = 0
      const counted: HealthCheck.DependencyCheck = {
        required: true,
        check: Effect.sync(() => {
          runs++
          return { status: "available" as const }
        })
      }
      const hanging: HealthCheck.DependencyCheck = { required: false, check: Effect.never }
      const health = yield* HealthCheck.HealthCheck.pipe(
        Effect.provide(HealthCheck.layer({
          git: counted,
          aider: hanging,
          docker: counted,
          postgres: counted,
          redis: counted,
          filesystem: counted
        }, "all")),
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["HEALTH_CACHE_TTL", "30 seconds"], ["HEALTH_CHECK_TIMEOUT", "100 millis"]]))
        )
      )
      const reports = yield* Effect.forEach(Array.from({ length: 50 }, () => health.report), (r) => r, {
        concurrency: "unbounded"
      })
      assert.strictEqual(runs, 5, "each probe ran once for 50 callers")
      for (const report of reports) {
        assert.strictEqual(report.dependencies.aider, "unavailable")
        assert.strictEqual(report.details["aider"], "timed out")
      }
    }))
})
