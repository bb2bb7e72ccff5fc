/**
 * The HTTP edge: every route of the domain's HttpApi, `/openapi.json`, `/docs`, correlation ids,
 * bounded health checks and authentication, served by the Node HTTP server.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { HttpApiScalar, HttpLayerRouter } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Layer } from "effect"
import { createServer } from "node:http"
import * as Authentication from "./Authentication.js"
import * as DependencyProbes from "./DependencyProbes.js"
import * as HealthCheck from "./HealthCheck.js"
import * as CorrelationMiddleware from "./http/CorrelationMiddleware.js"
import * as HealthHandlers from "./http/HealthHandlers.js"
import * as PendingHandlers from "./http/PendingHandlers.js"
import type { ServerConfig } from "./ServerConfig.js"

export const routes = (config: ServerConfig) =>
  Layer.mergeAll(
    HttpLayerRouter.addHttpApi(DevTeamApi, { openapiPath: "/openapi.json" }).pipe(
      Layer.provide([HealthHandlers.layer, PendingHandlers.layer]),
      Layer.provide(Authentication.layer(config))
    ),
    HttpApiScalar.layerHttpLayerRouter({ api: DevTeamApi, path: "/docs" }),
    CorrelationMiddleware.layer
  )

export const healthChecks = (config: ServerConfig) =>
  HealthCheck.layer({
    git: DependencyProbes.git,
    aider: DependencyProbes.aider(process.env.AIDER_PATH ?? "aider"),
    docker: DependencyProbes.docker,
    postgres: DependencyProbes.disabled("journal storage not wired in this build yet"),
    redis: DependencyProbes.redis(process.env.REDIS_URL),
    filesystem: DependencyProbes.filesystem(config.dataDir)
  }, config.role)

/** The HTTP server on `host:port`. */
export const layer = (config: ServerConfig) =>
  HttpLayerRouter.serve(routes(config)).pipe(
    Layer.provide(healthChecks(config)),
    Layer.provide(NodeHttpServer.layer(createServer, { port: config.port, host: config.host }))
  )
