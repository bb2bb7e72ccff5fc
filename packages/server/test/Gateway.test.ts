import { ServerConfig } from "@devteam/server"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { SignJWT } from "jose"
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import * as H from "./fixtures/GatewayHarness.js"

const SECRET = H.SECRET
const execFileAsync = promisify(execFile)
const repoRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")

/** The real gateway (with runner, cluster and embedded storage) on an ephemeral port. */
const serve = (options: { readonly jwt: boolean }) => H.layer(options)

const baseUrl = Effect.map(H.TestServer, (server) => server.url)

// Every path of api.md, as it must appear in /openapi.json.
const contractPaths = [
  "/events",
  "/events/{eventId}",
  "/health",
  "/prep",
  "/implement",
  "/verify",
  "/tasks/next",
  "/api/devteam/automation/initialize",
  "/api/devteam/automation/status/{projectId}",
  "/api/devteam/automation/pause/{projectId}",
  "/api/devteam/automation/resume/{projectId}",
  "/api/devteam/automation/stop/{projectId}",
  "/api/devteam/repository/validate",
  "/api/devteam/repository/tasks/{projectId}",
  "/api/devteam/repository/plan/{projectId}",
  "/api/devteam/repository/tasks/{projectId}/{taskId}",
  "/api/devteam/errors/{executionId}/{errorId}",
  "/api/devteam/tasks/inject",
  "/api/devteam/executions/active/{userId}",
  "/api/devteam/executions/history/{userId}",
  "/api/devteam/executions/{executionId}",
  "/ws/devteam",
  "/admin/projects",
  "/admin/projects/{projectId}/journal",
  "/admin/cluster",
  "/metrics",
  "/openapi.json",
  "/docs"
]

describe("Gateway (local-only mode)", () => {
  layer(serve({ jwt: false }), { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("GET /health reports every dependency within 500 ms", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const started = Date.now()
        const res = yield* Effect.promise(() => fetch(`${url}/health`))
        const elapsed = Date.now() - started
        const body = yield* Effect.promise(() => res.json())
        assert.strictEqual(res.status, 200)
        assert.include(["healthy", "degraded"], body.status)
        assert.deepStrictEqual(Object.keys(body.dependencies).sort(), [
          "aider",
          "docker",
          "filesystem",
          "git",
          "postgres",
          "redis"
        ])
        assert.strictEqual(body.dependencies.git, "available")
        assert.strictEqual(body.dependencies.filesystem, "writable")
        assert.isBelow(elapsed, 1_000)
      }))

    it.effect("/openapi.json lists every path of the contract, with the bearer scheme", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const spec = yield* Effect.promise(() => fetch(`${url}/openapi.json`).then((r) => r.json()))
        assert.strictEqual(spec.openapi, "3.1.0")
        for (const path of contractPaths) assert.property(spec.paths, path, path)
        assert.property(spec.components.securitySchemes, "bearer")
        // status codes of the contract are declared
        assert.property(spec.paths["/api/devteam/automation/initialize"].post.responses, "202")
        assert.property(spec.paths["/api/devteam/automation/pause/{projectId}"].post.responses, "409")
        assert.property(spec.paths["/verify"].post.responses, "422")
      }))

    it.effect(
      "/openapi.json passes Redocly's recommended lint with no error; every operation documented",
      () =>
        Effect.gen(function*() {
          const url = yield* baseUrl
          const text = yield* Effect.promise(() => fetch(`${url}/openapi.json`).then((r) => r.text()))
          const spec = JSON.parse(text)
          assert.isNotEmpty(spec.servers)
          for (const tag of spec.tags) assert.isString(tag.description, `tag ${tag.name}`)
          const idempotencyStatuses = ["409", "413", "422"]
          for (const [path, item] of Object.entries<Record<string, Record<string, unknown>>>(spec.paths)) {
            for (const [method, op] of Object.entries(item)) {
              const where = `${method.toUpperCase()} ${path}`
              assert.isString(op.summary, where)
              assert.isString(op.description, where)
              assert.isString(op.operationId, where)
              const responses = Object.keys(op.responses ?? {})
              const parameters: Array<{ name: string }> = Array.isArray(op.parameters) ? op.parameters : []
              if (!parameters.some((p) => p.name === "idempotency-key")) {
                // only state-changing routes can answer the idempotency errors (413: routes with a body)
                assert.notInclude(responses, "422", where)
                if (op.requestBody === undefined) assert.notInclude(responses, "413", where)
              }
            }
          }
          for (const status of idempotencyStatuses) assert.notProperty(spec.paths["/health"].get.responses, status)
          assert.property(spec.paths["/api/devteam/automation/pause/{projectId}"].post.responses, "422")

          const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "openapi-lint-"))
          const file = Path.join(dir, "openapi.json")
          Fs.writeFileSync(file, text)
          const output = yield* Effect.promise(() =>
            execFileAsync(
              "npx",
              ["--no-install", "redocly", "lint", "--extends=recommended", "--format=json", file],
              {
                cwd: repoRoot,
                env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
                timeout: 120_000
              }
            ).then(({ stdout }) => stdout, (error: { stdout?: string }) => error.stdout ?? "")
          )
          Fs.rmSync(dir, { recursive: true, force: true })
          const report = JSON.parse(output.slice(output.indexOf("{")))
          const errors = report.problems.filter((p: { severity: string }) => p.severity === "error")
          assert.deepStrictEqual(errors, [])
          assert.strictEqual(report.totals.errors, 0)
        }),
      180_000
    )

    it.effect("/docs serves the API explorer page", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const res = yield* Effect.promise(() => fetch(`${url}/docs`))
        const html = yield* Effect.promise(() => res.text())
        assert.strictEqual(res.status, 200)
        assert.match(res.headers.get("content-type") ?? "", /text\/html/)
        assert.include(html, "DevTeam Runner API")
      }))

    it.effect("no route answers 501; a URL-encoded projectId reaches the handler (unknown project → 404)", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const res = yield* Effect.promise(() =>
          fetch(`${url}/api/devteam/automation/pause/customer-123%2Fproject-abc`, { method: "POST" })
        )
        const body = yield* Effect.promise(() => res.json())
        assert.strictEqual(res.status, 404)
        assert.strictEqual(body._tag, "ProjectNotFound")
        assert.strictEqual(body.projectId, "customer-123/project-abc")
      }))

    it.effect("echoes x-correlation-id, generates one otherwise", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const echoed = yield* Effect.promise(() =>
          fetch(`${url}/health`, { headers: { "x-correlation-id": "abc-123" } })
        )
        assert.strictEqual(echoed.headers.get("x-correlation-id"), "abc-123")
        const generated = yield* Effect.promise(() =>
          fetch(`${url}/health`, { headers: { "x-correlation-id": "bad id\twith spaces" } })
        )
        assert.match(generated.headers.get("x-correlation-id") ?? "", /^[0-9a-f-]{36}$/)
      }))

    it.effect("schema violations are 400 with the failing path in the message", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const res = yield* Effect.promise(() =>
          fetch(`${url}/api/devteam/automation/initialize`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ projectId: "../etc", repoUrl: "https://x/y.git" })
          })
        )
        const body = yield* Effect.promise(() => res.json())
        assert.strictEqual(res.status, 400)
        assert.isString(body._tag)
        assert.include(body.message, "projectId")
      }))

    const post = (url: string, body: unknown) =>
      Effect.promise(() =>
        fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
          .then(async (res) => ({ status: res.status, body: await res.json() }))
      )

    it.effect("a schema error is one short line per problem, not Schema's validation tree", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const res = yield* post(`${url}/api/devteam/automation/initialize`, {
          projectId: "acme/first-hour",
          repoUrl: "https://x/y.git",
          tool: "x"
        })
        assert.strictEqual(res.status, 400)
        assert.strictEqual(res.body._tag, "HttpApiDecodeError")
        assert.strictEqual(res.body.message, `tool: expected one of "aider" | "claude-code" | "script", got "x"`)
        assert.deepStrictEqual(res.body.issues, [{ _tag: "Type", path: ["tool"], message: res.body.message.slice(6) }])
        const nested = yield* post(`${url}/api/devteam/automation/initialize`, {
          repoUrl: "https://x/y.git",
          baseBranch: "a..b",
          resources: { cpus: "abc" }
        })
        assert.strictEqual(nested.status, 400)
        assert.strictEqual(
          nested.body.message,
          "projectId: is required; baseBranch: branch must be a plain git branch name (letters, digits, '.', '_', '/', '-'; no '..'); " +
            `resources.cpus: expected number, got "abc"`
        )
        assert.notInclude(nested.body.message, "undefined")
      }))

    it.effect("unknown fields in a request body are 400 naming each of them, and change nothing", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const res = yield* post(`${url}/api/devteam/automation/initialize`, {
          projectId: "acme/unknown-fields",
          repoUrl: "https://x/y.git",
          stopAt: "1.1.1",
          verify: { commands: ["npm test"], coverage: 80 }
        })
        assert.strictEqual(res.status, 400)
        assert.strictEqual(res.body.message, "unknown fields: stopAt, verify.coverage")
        const status = yield* Effect.promise(() =>
          fetch(`${url}/api/devteam/automation/status/${encodeURIComponent("acme/unknown-fields")}`)
        )
        assert.strictEqual(status.status, 404)
        const validate = yield* post(`${url}/api/devteam/repository/validate`, {
          repoUrl: "https://x/y.git",
          branch: "x"
        })
        assert.strictEqual(validate.status, 400)
        assert.include(validate.body.message, "unknown field: branch")
      }))

    it.effect("a known path asked with the wrong method is 405 with Allow; an unknown path stays 404", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const get = yield* Effect.promise(() => fetch(`${url}/api/devteam/automation/initialize`))
        assert.strictEqual(get.status, 405)
        assert.strictEqual(get.headers.get("allow"), "POST")
        const body = yield* Effect.promise(() => get.json())
        assert.strictEqual(body._tag, "MethodNotAllowed")
        const health = yield* Effect.promise(() => fetch(`${url}/health`, { method: "DELETE" }))
        assert.strictEqual(health.status, 405)
        assert.strictEqual(health.headers.get("allow"), "GET, HEAD")
        const missing = yield* Effect.promise(() => fetch(`${url}/api/devteam/nothing-here`))
        assert.strictEqual(missing.status, 404)
      }))
  })
})

describe("Gateway (JWT)", () => {
  const sign = (claims: Record<string, unknown>, secret = SECRET) =>
    new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("5m").sign(
      new TextEncoder().encode(secret)
    )

  layer(serve({ jwt: true }), { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("no token → 401, forged token → 401, valid token passes authentication", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const target = `${url}/admin/projects`
        const none = yield* Effect.promise(() => fetch(target))
        assert.strictEqual(none.status, 401)
        assert.strictEqual((yield* Effect.promise(() => none.json()))._tag, "Unauthorized")
        const forged = yield* Effect.promise(() =>
          sign({ sub: "u1", roles: ["admin"] }, "another-secret-another-secret-another")
        )
        assert.strictEqual(
          (yield* Effect.promise(() => fetch(target, { headers: { authorization: `Bearer ${forged}` } }))).status,
          401
        )
        const valid = yield* Effect.promise(() => sign({ sub: "u1", roles: ["admin"], projects: ["*"] }))
        const ok = yield* Effect.promise(() => fetch(target, { headers: { authorization: `Bearer ${valid}` } }))
        assert.strictEqual(ok.status, 200)
      }))

    it.effect("/health needs no token", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        assert.include([200, 503], (yield* Effect.promise(() => fetch(`${url}/health`))).status)
      }))
  })
})

describe("ServerConfig", () => {
  const load = (env: Record<string, string>) =>
    ServerConfig.load.pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.either
    )

  it.effect("refuses a non-loopback address without AUTH_JWT_SECRET", () =>
    Effect.gen(function*() {
      const result = yield* load({ DEVTEAM_RUNNER_HOST: "0.0.0.0" })
      assert.isTrue(result._tag === "Left")
      if (result._tag === "Left") assert.include(String(result.left), "refusing to listen on 0.0.0.0")
    }))

  it.effect("accepts a non-loopback address with a secret, and defaults to 127.0.0.1:8080 in role all", () =>
    Effect.gen(function*() {
      const withSecret = yield* load({ DEVTEAM_RUNNER_HOST: "0.0.0.0", AUTH_JWT_SECRET: SECRET })
      assert.isTrue(withSecret._tag === "Right")
      const defaults = yield* load({})
      assert.isTrue(defaults._tag === "Right")
      if (defaults._tag === "Right") {
        assert.strictEqual(defaults.right.host, "127.0.0.1")
        assert.strictEqual(defaults.right.port, 8080)
        assert.strictEqual(defaults.right.role, "all")
      }
    }))

  it.effect("rejects a short JWT secret and an unknown ROLE", () =>
    Effect.gen(function*() {
      assert.isTrue((yield* load({ AUTH_JWT_SECRET: "short" }))._tag === "Left")
      assert.isTrue((yield* load({ ROLE: "worker" }))._tag === "Left")
    }))
})
