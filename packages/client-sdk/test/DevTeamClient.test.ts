/**
 * The Effect client against the real all-in-one service: typed successes and tagged errors, path
 * parameters with `/` percent-encoded on the wire, the layer from configuration, the token as an
 * effect, per-call headers, and an Idempotency-Key on every command.
 */
import { DevTeamClient, RequestHeaders } from "@devteam/client-sdk/DevTeamClient"
import { DevTeamApi } from "@devteam/domain/Api"
import { InitializeRequest } from "@devteam/domain/AutomationApi"
import { VerifyConfig } from "@devteam/domain/ExecutionConfig"
import { ProjectId } from "@devteam/domain/Ids"
import { makeBareRemote } from "@devteam/runtime/testing/GitRemote"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import * as Path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { adminToken, makeService, type Service } from "./fixtures/Service.js"

let service: Service

beforeAll(async () => {
  service = await makeService()
  await service.start()
}, 120_000)

afterAll(async () => {
  await service?.dispose()
})

const script = "echo \"$DEVTEAM_TASK_ID\" >> \"done-$DEVTEAM_TASK_ID.txt\""

const newProject = () => ProjectId.make(`sdk-effect/p-${randomUUID().slice(0, 8)}`)

/** The requests `fetch` saw: method, URL and headers. */
const recordingFetch = () => {
  const seen: Array<{ method: string; url: string; headers: Headers }> = []
  const fetchImpl: typeof globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input)
    seen.push({ method: init?.method ?? "GET", url, headers: new Headers(init?.headers) })
    return globalThis.fetch(input, init)
  }
  return { seen, fetchImpl }
}

const clientLayer = (fetchImpl?: typeof globalThis.fetch) =>
  DevTeamClient.layer({ baseUrl: service.baseUrl, token: Redacted.make(adminToken()) }).pipe(
    Layer.provide(FetchHttpClient.layer),
    Layer.provide(fetchImpl === undefined ? Layer.empty : Layer.succeed(FetchHttpClient.Fetch, fetchImpl))
  )

const initialize = (projectId: ProjectId, command = script) =>
  Effect.gen(function*() {
    const client = yield* DevTeamClient
    const repoUrl = makeBareRemote({
      root: Path.join(service.root, "remotes"),
      name: `${randomUUID().slice(0, 8)}.git`
    })
    return yield* client.automation.initialize({
      payload: new InitializeRequest({
        projectId,
        repoUrl,
        tool: "script",
        script: command,
        verify: new VerifyConfig({ commands: ["true"] })
      }),
      headers: {}
    })
  })

describe("DevTeamClient (Effect)", () => {
  it.live(
    "typed success and tagged errors; a projectId with '/' is percent-encoded on the wire",
    () =>
      Effect.gen(function*() {
        const { fetchImpl, seen } = recordingFetch()
        const run = <A, E>(effect: Effect.Effect<A, E, DevTeamClient>) => Effect.provide(effect, clientLayer(fetchImpl))
        const projectId = newProject()
        const started = yield* run(initialize(projectId))
        assert.strictEqual(started.projectId, projectId)

        const state = yield* run(Effect.flatMap(DevTeamClient, (c) => c.automation.status({ path: { projectId } })))
        assert.strictEqual(state.projectId, projectId)
        assert.strictEqual(state.executionId, started.executionId)
        const statusUrl = seen.find((r) => r.url.includes("/automation/status/"))?.url ?? ""
        assert.isTrue(statusUrl.endsWith(`/api/devteam/automation/status/${encodeURIComponent(projectId)}`), statusUrl)
        assert.include(statusUrl, "%2F")

        // every command got an Idempotency-Key, and the bearer token
        const post = seen.find((r) => r.method === "POST")
        assert.match(post?.headers.get("idempotency-key") ?? "", /^[0-9a-f-]{36}$/)
        assert.match(post?.headers.get("authorization") ?? "", /^Bearer ey/)

        // tagged errors, handled by tag
        const missing = newProject()
        const handled = yield* run(
          Effect.flatMap(DevTeamClient, (c) => c.automation.status({ path: { projectId: missing } })).pipe(
            Effect.map(() => "found"),
            Effect.catchTag("ProjectNotFound", (error) => Effect.succeed(`not found: ${error.projectId}`))
          )
        )
        assert.strictEqual(handled, `not found: ${missing}`)

        const done = yield* run(
          Effect.flatMap(DevTeamClient, (c) => c.automation.status({ path: { projectId } })).pipe(
            Effect.filterOrFail((s) => s.status === "COMPLETED", () => "not yet"),
            Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 })
          )
        )
        const illegal = yield* run(
          Effect.flatMap(
            DevTeamClient,
            (c) => c.automation.resume({ path: { projectId: done.projectId }, headers: {} })
          )
        ).pipe(Effect.flip)
        assert.strictEqual(illegal._tag, "IllegalTransition")
      }),
    60_000
  )

  it.live("any client derived from the API encodes path parameters (the fix lives in the contract)", () =>
    Effect.gen(function*() {
      const raw = yield* HttpApiClient.make(DevTeamApi, {
        baseUrl: service.baseUrl,
        transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(adminToken()))
      })
      const projectId = newProject()
      const error = yield* raw.automation.status({ path: { projectId } }).pipe(Effect.flip)
      // the server routed it and read the id back whole; a raw '/' would have been a route miss
      // (a 404 body that is not a ProjectNotFound: a ParseError here)
      assert.strictEqual(error._tag, "ProjectNotFound")
      assert.strictEqual(error._tag === "ProjectNotFound" ? error.projectId : "", projectId)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live(
    "layerConfig reads DEVTEAM_URL and DEVTEAM_TOKEN; a token effect runs per request; RequestHeaders",
    () =>
      Effect.gen(function*() {
        const projectId = newProject()
        const fromConfig = DevTeamClient.layerConfig.pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
            new Map([["DEVTEAM_URL", service.baseUrl], ["DEVTEAM_TOKEN", adminToken()]])
          )))
        )
        const started = yield* Effect.provide(initialize(projectId, `sleep 2; ${script}`), fromConfig)
        assert.strictEqual(started.projectId, projectId)

        let asked = 0
        const refreshing = DevTeamClient.layerFetch({
          baseUrl: service.baseUrl,
          token: Effect.sync(() => {
            asked++
            return adminToken()
          })
        })
        const correlationId = `sdk-effect-${randomUUID().slice(0, 8)}`
        yield* Effect.flatMap(DevTeamClient, (c) => c.automation.status({ path: { projectId } })).pipe(
          Effect.zipRight(
            Effect.flatMap(DevTeamClient, (c) => c.automation.pause({ path: { projectId }, headers: {} })).pipe(
              Effect.ignore
            )
          ),
          Effect.provideService(RequestHeaders, { "x-correlation-id": correlationId }),
          Effect.provide(refreshing)
        )
        assert.strictEqual(asked, 2)

        // the pause (the first task still runs) is journaled under our correlation id
        const journal = yield* Effect.flatMap(
          DevTeamClient,
          (c) => c.admin.journal({ path: { projectId }, urlParams: {} })
        ).pipe(Effect.provide(refreshing))
        const pauses = journal.events.filter((e) => e.type === "PauseRequested")
        assert.strictEqual(pauses.length, 1)
        for (const event of pauses) assert.strictEqual(event.correlationId, correlationId)

        const missingConfig = yield* Effect.provide(initialize(newProject()), DevTeamClient.layerConfig).pipe(
          Effect.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map()))),
          Effect.flip
        )
        assert.include(String(missingConfig), "DEVTEAM_URL")
      }),
    60_000
  )
})
