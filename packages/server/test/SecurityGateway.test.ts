/**
 * Security suite at the HTTP edge (issue 20), against the real gateway + runner + cluster
 * (embedded storage, placeholder steps: nothing here needs a step to really run).
 */
import * as SandboxPolicy from "@devteam/runtime/SandboxPolicy"
import { Authentication } from "@devteam/server"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Option } from "effect"
import { SignJWT } from "jose"
import * as Http from "node:http"
import * as Os from "node:os"
import { WebSocket } from "ws"
import * as H from "./fixtures/GatewayHarness.js"

const tokens = await (async () => ({
  admin: await H.sign({ sub: "root", roles: ["admin"], projects: ["*"] }),
  user: await H.sign({
    sub: "alice",
    projects: ["acme/cmd-1", "acme/cmd-2", "acme/cmd-3", "acme/idem-1", "acme/idem-2"]
  }),
  /** The same `sub`, without access to alice's projects. */
  aliceElsewhere: await H.sign({ sub: "alice", projects: ["other/thing"] }),
  bob: await H.sign({ sub: "bob", customerId: "acme" })
}))()

/** A token with exactly these claims (and header), signed with the harness's secret. */
const rawToken = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(H.SECRET))

const server = Effect.map(H.TestServer, (s) => s)

const CONSOLE = "https://console.example.com"

/** A raw request (fetch cannot set Host); resolves with the status and body text. */
const raw = (url: string, options: { method?: string; headers?: Record<string, string>; body?: string }) =>
  Effect.promise(() =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = Http.request(url, { method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (text += chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }))
      })
      req.on("error", reject)
      req.end(options.body)
    })
  )

/** The HTTP status a WebSocket upgrade gets (101 when it opens). */
const wsStatus = (url: string, headers: Record<string, string>) =>
  Effect.promise(() =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(url.replace("http://", "ws://"), { headers })
      ws.on("open", () => {
        ws.close()
        resolve(101)
      })
      ws.on("unexpected-response", (_req, res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      ws.on("error", () => resolve(0))
    })
  )

describe("Security: browsers cannot drive local-only mode", () => {
  layer(H.layer({ jwt: false }), { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("JSON routes take only application/json: forms and text are 415 and start nothing", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* server
        const initialize = `${url}/api/devteam/automation/initialize`
        const json = JSON.stringify({ projectId: "local/form", repoUrl, tool: "script", script: "touch pwned" })
        for (
          const contentType of [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain;charset=UTF-8"
          ]
        ) {
          const reply = yield* raw(initialize, { method: "POST", headers: { "content-type": contentType }, body: json })
          assert.strictEqual(reply.status, 415, `${contentType}: ${reply.text}`)
          assert.include(reply.text, "UnsupportedMediaType")
        }
        const noType = yield* raw(initialize, { method: "POST", body: json })
        assert.strictEqual(noType.status, 415)
        const status = yield* H.request(`${url}/api/devteam/automation/status/local%2Fform`)
        assert.strictEqual(status.status, 404, "nothing was started")
        const ok = yield* raw(initialize, {
          method: "POST",
          headers: { "content-type": "application/json; charset=utf-8" },
          body: json
        })
        assert.strictEqual(ok.status, 202, ok.text)
      }))

    it.effect("a foreign Origin cannot change state or open the WebSocket; the service's own origin can", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* server
        const body = JSON.stringify({ projectId: "local/origin", repoUrl, tool: "script", script: "touch pwned" })
        const post = (origin: string) =>
          raw(`${url}/api/devteam/automation/initialize`, {
            method: "POST",
            headers: { "content-type": "application/json", origin },
            body
          })
        for (const origin of ["https://evil.example", "null", CONSOLE, url.replace("127.0.0.1", "localhost")]) {
          const reply = yield* post(origin)
          assert.strictEqual(reply.status, 403, `${origin}: ${reply.text}`)
        }
        const stop = yield* raw(`${url}/api/devteam/automation/stop/local%2Fx`, {
          method: "POST",
          headers: { origin: "https://evil.example" }
        })
        assert.strictEqual(stop.status, 403)
        assert.strictEqual((yield* H.request(`${url}/api/devteam/automation/status/local%2Forigin`)).status, 404)
        assert.strictEqual((yield* post(url)).status, 202, "same origin (the /docs page) is allowed")

        const ws = `${url}/ws/devteam?projectId=local%2Forigin`
        assert.strictEqual(yield* wsStatus(ws, { origin: "https://evil.example" }), 403)
        assert.strictEqual(yield* wsStatus(ws, {}), 101, "a client without Origin (not a browser)")
        assert.strictEqual(yield* wsStatus(ws, { origin: url }), 101)
      }))

    it.effect("DNS rebinding: a Host that is not loopback or the bound address is refused", () =>
      Effect.gen(function*() {
        const { url } = yield* server
        const port = new URL(url).port
        for (const host of ["attacker.example", `attacker.example:${port}`, `127.0.0.1.nip.io:${port}`]) {
          const reply = yield* raw(`${url}/api/devteam/executions/active/local`, { headers: { host } })
          assert.strictEqual(reply.status, 403, host)
          assert.include(reply.text, "Host")
        }
        for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost"]) {
          const reply = yield* raw(`${url}/health`, { headers: { host } })
          assert.include([200, 503], reply.status, host)
        }
      }))
  })
})

describe("Security: the gateway with authentication on (SANDBOX=local, ALLOWED_ORIGINS)", () => {
  layer(
    H.layer({ jwt: true, env: { SANDBOX: "local", ALLOWED_ORIGINS: CONSOLE } }),
    { timeout: 60_000, excludeTestServices: true }
  )((it) => {
    it.effect("auth on: the same browser rules, with ALLOWED_ORIGINS for a console; any Host without ALLOWED_HOSTS", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* server
        const post = (projectId: string, headers: Record<string, string>) =>
          raw(`${url}/api/devteam/automation/initialize`, {
            method: "POST",
            headers: { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json", ...headers },
            body: JSON.stringify({ projectId, repoUrl })
          })
        assert.strictEqual((yield* post("acme/o-1", { origin: "https://evil.example" })).status, 403)
        assert.strictEqual(
          (yield* post("acme/o-1", { "content-type": "application/x-www-form-urlencoded" })).status,
          415
        )
        assert.strictEqual((yield* post("acme/o-2", { origin: CONSOLE })).status, 202)
        const ws = `${url}/ws/devteam?projectId=acme%2Fo-2&token=${tokens.admin}`
        assert.strictEqual(yield* wsStatus(ws, { origin: "https://evil.example" }), 403)
        assert.strictEqual(yield* wsStatus(ws, { origin: CONSOLE }), 101)
        const behindProxy = yield* raw(`${url}/health`, { headers: { host: "devteam.example.com" } })
        assert.include([200, 503], behindProxy.status)
      }))

    it.effect("script and verify.commands from a non-admin → 403, nothing started; admins and plain requests pass", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* server
        const initialize = (token: string, projectId: string, extra: Record<string, unknown>) =>
          H.request(`${url}/api/devteam/automation/initialize`, {
            method: "POST",
            token,
            body: { projectId, repoUrl, tool: "script", ...extra }
          })
        const script = yield* initialize(tokens.user, "acme/cmd-1", { script: "cat /proc/$PPID/environ" })
        assert.strictEqual(script.status, 403, script.text)
        assert.include(script.text, "admin")
        const verify = yield* initialize(tokens.user, "acme/cmd-1", { verify: { commands: ["id"] } })
        assert.strictEqual(verify.status, 403, verify.text)
        const status = yield* H.request(`${url}/api/devteam/automation/status/acme%2Fcmd-1`, { token: tokens.user })
        assert.strictEqual(status.status, 404, "nothing was started")

        const plain = yield* initialize(tokens.user, "acme/cmd-2", {})
        assert.strictEqual(plain.status, 202, plain.text)
        const byAdmin = yield* initialize(tokens.admin, "acme/cmd-3", { script: "echo ok > ok.txt" })
        assert.strictEqual(byAdmin.status, 202, byAdmin.text)
      }))

    it.effect("tokens: exp required, bounded lifetime, no future iat", () =>
      Effect.gen(function*() {
        const { url } = yield* server
        const now = Math.floor(Date.now() / 1000)
        const call = (token: string) => H.request(`${url}/api/devteam/executions/active/alice`, { token })
        const ok = yield* Effect.promise(() => rawToken({ sub: "alice", iat: now, exp: now + 600 }))
        assert.strictEqual((yield* call(ok)).status, 200)
        for (
          const [claims, why] of [
            [{ sub: "alice", iat: now }, "exp"],
            [{ sub: "alice" }, "exp"],
            [{ sub: "alice", iat: now + 3600, exp: now + 7200 }, "future"],
            [{ sub: "alice", iat: now, exp: now + 30 * 24 * 3600 }, "JWT_MAX_LIFETIME"],
            [{ sub: "alice", exp: now + 30 * 24 * 3600 }, "JWT_MAX_LIFETIME"]
          ] as const
        ) {
          const reply = yield* call(yield* Effect.promise(() => rawToken(claims)))
          assert.strictEqual(reply.status, 401, JSON.stringify(claims))
          assert.include(reply.text, why)
        }
      }))

    it.effect("idempotent replay: authorised first, scoped to the caller's project", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* server
        const initialize = (token: string, projectId: string, key: string) =>
          H.request(`${url}/api/devteam/automation/initialize`, {
            method: "POST",
            token,
            headers: { "idempotency-key": key },
            body: { projectId, repoUrl }
          })
        const first = yield* initialize(tokens.user, "acme/idem-1", "sec-key-1")
        assert.strictEqual(first.status, 202, first.text)
        const replay = yield* initialize(tokens.user, "acme/idem-1", "sec-key-1")
        assert.strictEqual(replay.status, 202)
        assert.strictEqual(replay.headers.get("idempotent-replayed"), "true")
        // the same sub with a token that has no access to the project: refused, not replayed
        const stranger = yield* initialize(tokens.aliceElsewhere, "acme/idem-1", "sec-key-1")
        assert.strictEqual(stranger.status, 403, stranger.text)
        assert.isNull(stranger.headers.get("idempotent-replayed"))
        assert.notInclude(stranger.text, String(H.field(first.body, "executionId")))
        // the same key for another project is another request
        const other = yield* initialize(tokens.user, "acme/idem-2", "sec-key-1")
        assert.strictEqual(other.status, 202, other.text)
        assert.isNull(other.headers.get("idempotent-replayed"))
        assert.notStrictEqual(H.field(other.body, "executionId"), H.field(first.body, "executionId"))
      }))

    it.effect("/tasks/next?customerId= of another customer: 403 before any lookup, no project named", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* server
        const created = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: tokens.admin,
          body: { projectId: "globex/secret-plan", repoUrl }
        })
        assert.strictEqual(created.status, 202, created.text)
        const probe = yield* H.request(`${url}/tasks/next?customerId=globex`, { token: tokens.bob })
        assert.strictEqual(probe.status, 403, probe.text)
        assert.notInclude(probe.text, "secret-plan")
        const nobody = yield* H.request(`${url}/tasks/next?customerId=initech`, { token: tokens.bob })
        assert.strictEqual(nobody.status, 403, "the same answer whether the customer has projects or not")
      }))

    it.effect("/health shows no absolute paths; schema errors do not echo regular expressions", () =>
      Effect.gen(function*() {
        const { url } = yield* server
        const health = yield* H.request(`${url}/health`)
        assert.notMatch(health.text, /"\/(?:tmp|home|var|srv|data)\//, health.text)
        assert.notInclude(health.text, Os.tmpdir())
        for (
          const body of [
            { projectId: "bad id!", repoUrl: "https://example.com/r.git" },
            { projectId: "acme/cmd-1", repoUrl: "https://example.com/r.git", stopPoint: "x y" },
            { projectId: "acme/cmd-1", repoUrl: "https://example.com/r.git", baseBranch: "a b" }
          ]
        ) {
          const reply = yield* H.request(`${url}/api/devteam/automation/initialize`, {
            method: "POST",
            token: tokens.admin,
            body
          })
          assert.strictEqual(reply.status, 400, reply.text)
          assert.notMatch(reply.text, /\^\[|\]\+\$|\\d|pattern/, reply.text)
        }
      }))

    it.effect("/health says pipeline commands run on the host", () =>
      Effect.gen(function*() {
        const { url } = yield* server
        const health = yield* H.request(`${url}/health`)
        assert.include(String(H.field(H.field(health.body, "details"), "docker")), "SANDBOX=local")
      }))
  })

  it.effect("token rules: aud and iss are checked when configured", () =>
    Effect.gen(function*() {
      const key = new TextEncoder().encode(H.SECRET)
      const now = Math.floor(Date.now() / 1000)
      const rules = {
        maxLifetime: Duration.hours(1),
        audience: Option.some("devteam"),
        issuer: Option.some("https://issuer.example")
      }
      const sign = (claims: Record<string, unknown>) =>
        Effect.promise(() => rawToken({ sub: "a", iat: now, exp: now + 600, ...claims }))
      const good = yield* sign({ aud: "devteam", iss: "https://issuer.example" })
      assert.strictEqual((yield* Authentication.verify(key, good, rules)).userId, "a")
      for (
        const claims of [{ iss: "https://issuer.example" }, { aud: "devteam" }, {
          aud: "other",
          iss: "https://issuer.example"
        }]
      ) {
        const refused = yield* Effect.flip(Authentication.verify(key, yield* sign(claims), rules))
        assert.strictEqual(refused._tag, "Unauthorized", JSON.stringify(claims))
      }
      const config = yield* Authentication.TokenRulesConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["JWT_MAX_LIFETIME", "1 second"]]))),
        Effect.flip
      )
      assert.include(String(config), "JWT_MAX_LIFETIME")
    }))

  it.effect("the opt-in: LOCAL_SANDBOX_CALLER_COMMANDS=true lifts the restriction; docker or local-only never has it", () =>
    Effect.gen(function*() {
      const needAdmin = (env: Record<string, string>) =>
        Effect.map(
          SandboxPolicy.SandboxPolicyConfig.pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
          ),
          SandboxPolicy.callerCommandsNeedAdmin
        )
      const secret = H.SECRET
      assert.isTrue(yield* needAdmin({ SANDBOX: "local", AUTH_JWT_SECRET: secret }))
      assert.isFalse(
        yield* needAdmin({ SANDBOX: "local", AUTH_JWT_SECRET: secret, LOCAL_SANDBOX_CALLER_COMMANDS: "true" })
      )
      assert.isFalse(yield* needAdmin({ SANDBOX: "docker", AUTH_JWT_SECRET: secret }))
      assert.isFalse(yield* needAdmin({ SANDBOX: "local" }))
      assert.isFalse(yield* needAdmin({ SANDBOX: "local", AUTH_JWT_SECRET: "" }))
    }))
})
