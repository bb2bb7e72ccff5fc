/**
 * The HTTP edge: every route of the domain's HttpApi, `/openapi.json`, `/docs`, correlation ids,
 * bounded health checks and authentication, served by the Node HTTP server.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import * as Database from "@devteam/runtime/Database"
import { RedisConfig } from "@devteam/runtime/EventBusRedis"
import * as Redaction from "@devteam/runtime/Redaction"
import * as RepositoryInit from "@devteam/runtime/RepositoryInit"
import * as RepositoryProbe from "@devteam/runtime/RepositoryProbe"
import { SandboxConfig } from "@devteam/runtime/Sandbox"
import * as SandboxPolicy from "@devteam/runtime/SandboxPolicy"
import { HttpApiScalar, HttpLayerRouter, HttpMiddleware } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, FiberRef, Layer, LogLevel, Option, Redacted } from "effect"
import * as Authentication from "./Authentication.js"
import * as DependencyProbes from "./DependencyProbes.js"
import * as HealthCheck from "./HealthCheck.js"
import * as AdminHandlers from "./http/AdminHandlers.js"
import * as AutomationHandlers from "./http/AutomationHandlers.js"
import * as BrowserGuardMiddleware from "./http/BrowserGuardMiddleware.js"
import * as CorrelationMiddleware from "./http/CorrelationMiddleware.js"
import * as ErrorMiddleware from "./http/ErrorMiddleware.js"
import * as ErrorsHandlers from "./http/ErrorsHandlers.js"
import * as EventsHandlers from "./http/EventsHandlers.js"
import * as ExecutionsHandlers from "./http/ExecutionsHandlers.js"
import * as HealthHandlers from "./http/HealthHandlers.js"
import * as MetricsMiddleware from "./http/MetricsMiddleware.js"
import * as ProjectsHandlers from "./http/ProjectsHandlers.js"
import * as RepositoryHandlers from "./http/RepositoryHandlers.js"
import * as RequestLog from "./http/RequestLog.js"
import * as RunnerHandlers from "./http/RunnerHandlers.js"
import * as SchemaErrorMiddleware from "./http/SchemaErrorMiddleware.js"
import * as TasksHandlers from "./http/TasksHandlers.js"
import { createServerWith, HttpTimeoutsConfig } from "./HttpTimeouts.js"
import type { ServerConfig } from "./ServerConfig.js"
import * as WsGateway from "./ws/WsGateway.js"

export const routes = (config: ServerConfig) =>
  Layer.mergeAll(
    HttpLayerRouter.addHttpApi(DevTeamApi, { openapiPath: "/openapi.json" }).pipe(
      Layer.provide([
        HealthHandlers.layer,
        EventsHandlers.layer,
        RunnerHandlers.layer,
        AutomationHandlers.layer,
        ProjectsHandlers.layer,
        RepositoryHandlers.layer,
        TasksHandlers.layer,
        ExecutionsHandlers.layer,
        ErrorsHandlers.layer,
        AdminHandlers.layer
      ]),
      Layer.provide(Authentication.layer(config)),
      Layer.provide(RepositoryProbe.layerConfig),
      Layer.provide(RepositoryInit.layerConfig),
      Layer.provide(Redaction.layer)
    ),
    HttpApiScalar.layerHttpLayerRouter({ api: DevTeamApi, path: "/docs" }),
    WsGateway.layer(config),
    BrowserGuardMiddleware.layer(config),
    SchemaErrorMiddleware.layer,
    CorrelationMiddleware.layer,
    MetricsMiddleware.layer,
    ErrorMiddleware.layer
  )

export const healthChecks = (config: ServerConfig) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = yield* Database.Database
    // the bus's own reading of REDIS_URL (unset or empty → in-process), so the probe agrees with it
    const redisUrl = yield* RedisConfig
    const sandboxPolicy = yield* SandboxPolicy.SandboxPolicyConfig
    // a gateway runs no pipeline: git, the coding tool and sandboxes are the runners' concern
    const pipelineProbe = (probe: HealthCheck.DependencyCheck) =>
      config.role === "gateway" ? DependencyProbes.notUsed("the gateway role runs no pipeline") : probe
    return HealthCheck.layer({
      git: pipelineProbe(DependencyProbes.git),
      // the coding agents where IMPLEMENT runs them (in the sandbox image), probed in the background
      aider: config.role === "gateway"
        ? DependencyProbes.notUsed("the gateway role runs no pipeline")
        : yield* DependencyProbes.agents(yield* SandboxConfig, [
          { name: "aider", executable: process.env.AIDER_PATH ?? "aider" },
          { name: "claude-code", executable: process.env.CLAUDE_CODE_PATH ?? "claude" }
        ]),
      docker: pipelineProbe(DependencyProbes.docker(sandboxPolicy)),
      postgres: DependencyProbes.postgres(sql, database),
      redis: DependencyProbes.redis(Option.getOrUndefined(Option.map(redisUrl, Redacted.value))),
      filesystem: DependencyProbes.filesystem(config.dataDir)
    }, config.role)
  }))

/**
 * `HttpLayerRouter.serve` without the platform's per-request span: nothing exports spans, and
 * making one (the URL parsed, the headers redacted and copied as attributes) cost every request.
 */
export const serve: typeof HttpLayerRouter.serve = (appLayer, options) =>
  HttpMiddleware.withTracerDisabledWhen(HttpLayerRouter.serve(appLayer, options), () => true)

/** The HTTP server on `host:port`. */
export const layer = (config: ServerConfig) =>
  // Each request's log line at DEBUG: a polling client must not flood an INFO log; its URL redacted.
  serve(routes(config), {
    disableLogger: true,
    middleware: (app) => Effect.locally(RequestLog.logger(app), FiberRef.currentLogLevel, LogLevel.Debug)
  }).pipe(
    Layer.provide(healthChecks(config)),
    Layer.provide(
      Layer.unwrapEffect(
        Effect.map(
          HttpTimeoutsConfig,
          (timeouts) => NodeHttpServer.layer(createServerWith(timeouts), { port: config.port, host: config.host })
        )
      )
    )
  )
