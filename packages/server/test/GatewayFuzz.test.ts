/**
 * Schema-driven bad input against every route, on real Postgres (a fresh database for this file):
 * ≥ 10,000 generated invalid requests (bodies derived from the domain's request schemas and made
 * invalid by wrong types, missing fields, hostile values or random JSON; invalid path and query
 * parameters; malformed JSON; invalid idempotency keys). None may answer 5xx, and none may change
 * state: the projects, their journal's last seq and the executions are the same afterwards.
 */
import { InitializeRequest } from "@devteam/domain/AutomationApi"
import { IngestEventRequest } from "@devteam/domain/EventsApi"
import { ProjectId } from "@devteam/domain/Ids"
import { TaskPatch } from "@devteam/domain/Injection"
import { ValidateRequest } from "@devteam/domain/RepositoryApi"
import { ImplementRequest, PrepRequest, VerifyRequest } from "@devteam/domain/RunnerApi"
import { InjectTaskRequest } from "@devteam/domain/TasksApi"
import { assert, describe, layer } from "@effect/vitest"
import { Arbitrary, Effect, Either, FastCheck as fc, Schema } from "effect"
import * as H from "./fixtures/GatewayHarness.js"

const PROJECT = "fuzz/app"
const ENCODED = encodeURIComponent(PROJECT)

const hostile: ReadonlyArray<unknown> = [
  null,
  12345,
  -1,
  true,
  [],
  {},
  "",
  "../../etc/passwd",
  "--upload-pack=touch /tmp/pwned",
  "$(rm -rf /)",
  "a;b|c",
  "line\nbreak",
  "nul\u0000byte",
  "x".repeat(10_000),
  [1, "two", null]
]

const isValid = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (value: unknown) => Either.isRight(decode(value))
}

/** Invalid JSON bodies for `schema`: near-valid ones with one field broken or dropped, or random JSON. */
const invalidBodies = <A, I>(schema: Schema.Schema<A, I>): fc.Arbitrary<unknown> => {
  const encode = Schema.encodeSync(schema)
  let valid: fc.Arbitrary<unknown>
  try {
    valid = Arbitrary.make(schema).map((value): unknown => encode(value))
  } catch {
    // fast-check cannot generate some patterns (look-ahead): start from the encoded shape instead
    valid = Arbitrary.make(Schema.encodedSchema(schema))
  }
  const record = (value: unknown): Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value) ? { ...value } : {}
  const broken = fc.tuple(valid, fc.nat(), fc.constantFrom(...hostile)).map(([value, i, bad]) => {
    const copy = record(value)
    const keys = Object.keys(copy)
    const key = keys.length === 0 ? "unexpected" : keys[i % keys.length] ?? "unexpected"
    copy[key] = bad
    return copy
  })
  const dropped = fc.tuple(valid, fc.nat()).map(([value, i]) => {
    const copy = record(value)
    const keys = Object.keys(copy)
    const key = keys[i % Math.max(1, keys.length)]
    if (key !== undefined) delete copy[key]
    return copy
  })
  const random = fc.jsonValue()
  const ok = isValid(schema)
  return fc.oneof(broken, dropped, random).filter((body) => !ok(body))
}

const invalidProjectIds = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.constantFrom("..", "a/../b", "/lead", "a b", "x".repeat(201), "é/ü", "a%b", "semi;colon")
).filter((s) => !isValid(ProjectId)(s) && s.trim().length > 0)

const invalidUuids = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom("123", "zzzz-zzzz"))
  .filter((s) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s) && s.trim().length > 0)

interface FuzzRequest {
  readonly method: string
  readonly path: string
  readonly body?: unknown
  readonly rawBody?: string
  readonly headers?: Record<string, string>
}

const sample = <A>(arb: fc.Arbitrary<A>, n: number, seed: number) => fc.sample(arb, { numRuns: n, seed })

const requests = (repoUrl: string): ReadonlyArray<FuzzRequest> => {
  const out: Array<FuzzRequest> = []
  const fuzz = <A, I>(method: string, path: string, schema: Schema.Schema<A, I>, seed: number) => {
    for (const body of sample(invalidBodies(schema), 1_230, seed)) out.push({ method, path, body })
    return [method, path] as const
  }
  const bodies = [
    fuzz("POST", "/events", IngestEventRequest, 1),
    fuzz("POST", "/prep", PrepRequest, 2),
    fuzz("POST", "/implement", ImplementRequest, 3),
    fuzz("POST", "/verify", VerifyRequest, 4),
    fuzz("POST", "/api/devteam/automation/initialize", InitializeRequest, 5),
    fuzz("POST", "/api/devteam/repository/validate", ValidateRequest, 6),
    fuzz("PUT", `/api/devteam/repository/tasks/${ENCODED}/1.1.1`, TaskPatch, 7),
    fuzz("POST", "/api/devteam/tasks/inject", InjectTaskRequest, 8)
  ]
  for (const [i, id] of sample(invalidProjectIds, 40, 7).entries()) {
    const p = encodeURIComponent(id)
    const pick = i % 7
    if (pick === 0) out.push({ method: "GET", path: `/api/devteam/automation/status/${p}` })
    if (pick === 1) out.push({ method: "POST", path: `/api/devteam/automation/pause/${p}` })
    if (pick === 2) out.push({ method: "POST", path: `/api/devteam/automation/resume/${p}` })
    if (pick === 3) out.push({ method: "POST", path: `/api/devteam/automation/stop/${p}` })
    if (pick === 4) out.push({ method: "GET", path: `/api/devteam/repository/plan/${p}` })
    if (pick === 5) out.push({ method: "GET", path: `/tasks/next?projectId=${p}` })
    if (pick === 6) out.push({ method: "GET", path: `/admin/projects/${p}/journal` })
    out.push({ method: "GET", path: `/api/devteam/repository/tasks/${p}` })
  }
  for (const [i, id] of sample(invalidUuids, 30, 11).entries()) {
    const p = encodeURIComponent(id)
    out.push({ method: "GET", path: [`/events/${p}`, `/api/devteam/executions/${p}`][i % 2] ?? "/events/x" })
    out.push({ method: "GET", path: `/api/devteam/errors/${p}/${p}` })
  }
  for (const q of ["limit=0", "limit=201", "limit=abc", "limit=-5", "limit=1.5"]) {
    out.push({ method: "GET", path: `/api/devteam/executions/history/u1?${q}` })
  }
  for (const q of ["after=-1", "after=x", "limit=0", "limit=1001", "limit=1e9"]) {
    out.push({ method: "GET", path: `/admin/projects/${ENCODED}/journal?${q}` })
  }
  for (const q of ["excludeCompleted=maybe", "customerId=", "projectId=" + encodeURIComponent("../x")]) {
    out.push({ method: "GET", path: `/tasks/next?${q}` })
  }
  // malformed JSON on every body route
  for (const [method, path] of bodies) {
    for (const raw of ["{", "{\"a\":", "[1,2", "nul", "{\"projectId\": \"x\",}", "\u0000"]) {
      out.push({ method, path, rawBody: raw })
    }
  }
  // invalid Idempotency-Key on state-changing routes with otherwise valid requests
  for (const key of ["x".repeat(201), "spaces are not allowed", "tab\there"]) {
    out.push({ method: "POST", path: `/api/devteam/automation/pause/${ENCODED}`, headers: { "idempotency-key": key } })
    out.push({
      method: "POST",
      path: "/api/devteam/automation/initialize",
      headers: { "idempotency-key": key },
      body: { projectId: PROJECT, repoUrl }
    })
  }
  return out
}

describe("Gateway bad input (Postgres)", () => {
  layer(H.layer({ jwt: true, database: { kind: "postgres" }, stepDuration: "10 millis" }), {
    timeout: 240_000,
    excludeTestServices: true
  })((it) => {
    it.effect("≥ 10,000 schema-derived invalid requests: no 5xx, no state change", () =>
      Effect.gen(function*() {
        const { repoUrl, url } = yield* H.TestServer
        const admin = yield* Effect.promise(() => H.sign({ sub: "fuzzer", roles: ["admin"], projects: ["*"] }))
        const init = yield* H.request(`${url}/api/devteam/automation/initialize`, {
          method: "POST",
          token: admin,
          body: { projectId: PROJECT, repoUrl, userId: "u1" }
        })
        assert.strictEqual(init.status, 202, init.text)
        // let the execution finish, so that nothing changes on its own during the run
        const deadline = Date.now() + 30_000
        while (Date.now() < deadline) {
          const status = yield* H.request(`${url}/api/devteam/automation/status/${ENCODED}`, { token: admin })
          if (H.field(status.body, "status") === "COMPLETED") break
          yield* Effect.sleep("50 millis")
        }
        const snapshot = Effect.all({
          projects: H.request(`${url}/admin/projects`, { token: admin }).pipe(Effect.map((r) => r.text)),
          history: H.request(`${url}/api/devteam/executions/history/u1?limit=200`, { token: admin }).pipe(
            Effect.map((r) => r.text)
          ),
          journal: H.request(`${url}/admin/projects/${ENCODED}/journal?limit=1000`, { token: admin }).pipe(
            Effect.map((r) => r.text)
          )
        })
        const before = yield* snapshot
        assert.include(before.projects, "COMPLETED")
        const all = requests(repoUrl)
        assert.isAtLeast(all.length, 10_000)
        const failures: Array<string> = []
        const statuses = new Map<number, number>()
        yield* Effect.forEach(all, (req) =>
          H.request(`${url}${req.path}`, {
            method: req.method,
            token: admin,
            ...(req.body === undefined ? {} : { body: req.body }),
            ...(req.rawBody === undefined ? {} : { rawBody: req.rawBody }),
            ...(req.headers === undefined ? {} : { headers: req.headers })
          }).pipe(Effect.map((res) => {
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
            const tag = H.field(res.body, "_tag")
            if (res.status >= 500 || res.status < 400 || typeof tag !== "string") {
              failures.push(
                `${req.method} ${req.path} ${JSON.stringify(req.body ?? req.rawBody).slice(0, 200)} → ${res.status} ${
                  res.text.slice(0, 200)
                }`
              )
            }
          })), { concurrency: 8, discard: true })
        assert.deepStrictEqual(failures.slice(0, 10), [], JSON.stringify([...statuses]))
        const after = yield* snapshot
        assert.strictEqual(after.projects, before.projects)
        assert.strictEqual(after.history, before.history)
        assert.strictEqual(after.journal, before.journal)
      }), 240_000)
  })
})
