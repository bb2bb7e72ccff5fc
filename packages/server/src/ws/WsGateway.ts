/**
 * `GET /ws/devteam`: the WebSocket gateway (api.md "WebSocket /ws/devteam").
 *
 * The route is an ordinary `HttpLayerRouter` route on the gateway's Node HTTP server. The platform
 * hands upgrade requests to the router too; this handler authenticates them first (missing or
 * invalid token → HTTP 401 before any upgrade, bad query → 400, plain GET → 426), then upgrades the
 * raw Node socket with its own `ws` server (`noServer`, `maxPayload` 64 KiB → close 1009) and
 * detaches the platform's lazily created response, so the two never write to the same socket.
 *
 * Per connection: several projects (`?projectId=` and/or `subscribe` messages), per-project
 * authorisation (a project the caller may not access: close 1008 at connect, an error frame
 * later), `since` replay then live (see `WsConnection`), a bounded outbox (close 1013), rate-limited
 * client messages, and server pings (a peer that misses one is terminated). Frames come from one
 * shared feed per project (`ProjectFeeds`: event bus, with one journal poll for every feed of the
 * process when the bus is silent).
 */
import * as Auth from "@devteam/domain/Auth"
import { ProjectId } from "@devteam/domain/Ids"
import { MAX_CLIENT_MESSAGE_BYTES } from "@devteam/domain/WsFrame"
import { EventBus } from "@devteam/runtime/EventBus"
import { Journal } from "@devteam/runtime/Journal"
import { HttpLayerRouter, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Config, Duration, Effect, Either, FiberSet, Layer, Option, Schedule, Schema } from "effect"
import type { IncomingMessage } from "node:http"
import { WebSocket, WebSocketServer } from "ws"
import * as Authentication from "../Authentication.js"
import * as Metrics from "../Metrics.js"
import type { ServerConfig } from "../ServerConfig.js"
import * as ProjectFeeds from "./ProjectFeeds.js"
import * as WsConnection from "./WsConnection.js"

export const PATH = "/ws/devteam"

export interface WsOptions extends WsConnection.ConnectionLimits {
  /** How often the shared feeds poll the journal for frames the bus did not deliver. */
  readonly pollInterval: Duration.DurationInput
  /** Server ping period; a peer that has not answered the previous ping is terminated. */
  readonly heartbeatInterval: Duration.DurationInput
  /** Open connections one user (token `sub`) may hold (authentication on; local-only mode has one user). */
  readonly maxConnectionsPerUser: number
}

export const defaults: WsOptions = {
  highWaterBytes: 256 * 1024,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxBufferedFrames: 20_000,
  maxMergedLogChars: 64 * 1024,
  maxSubscriptions: 100,
  messagesPerSecond: 50,
  floodCloseAfter: 2_000,
  closeGraceMillis: 5_000,
  pollInterval: Duration.seconds(1),
  heartbeatInterval: Duration.seconds(30),
  maxConnectionsPerUser: 20
}

/**
 * `WS_MAX_BUFFERED_BYTES` (8 MiB), `WS_MAX_BUFFERED_FRAMES` (20000), `WS_POLL_INTERVAL_MS` (1000),
 * `WS_HEARTBEAT_SECONDS` (30), `WS_MESSAGES_PER_SECOND` (50), `WS_MAX_CONNECTIONS_PER_USER` (20).
 */
export const WsConfig: Config.Config<WsOptions> = Config.all({
  maxBufferedBytes: Config.integer("WS_MAX_BUFFERED_BYTES").pipe(
    Config.validate({ message: "WS_MAX_BUFFERED_BYTES must be ≥ 65536", validation: (n) => n >= 65536 }),
    Config.withDefault(defaults.maxBufferedBytes)
  ),
  maxBufferedFrames: Config.integer("WS_MAX_BUFFERED_FRAMES").pipe(
    Config.validate({ message: "WS_MAX_BUFFERED_FRAMES must be ≥ 100", validation: (n) => n >= 100 }),
    Config.withDefault(defaults.maxBufferedFrames)
  ),
  pollMillis: Config.integer("WS_POLL_INTERVAL_MS").pipe(
    Config.validate({
      message: "WS_POLL_INTERVAL_MS must be between 50 and 60000",
      validation: (n) => n >= 50 && n <= 60_000
    }),
    Config.withDefault(1000)
  ),
  heartbeatSeconds: Config.integer("WS_HEARTBEAT_SECONDS").pipe(
    Config.validate({
      message: "WS_HEARTBEAT_SECONDS must be between 1 and 3600",
      validation: (n) => n >= 1 && n <= 3600
    }),
    Config.withDefault(30)
  ),
  messagesPerSecond: Config.integer("WS_MESSAGES_PER_SECOND").pipe(
    Config.validate({ message: "WS_MESSAGES_PER_SECOND must be ≥ 1", validation: (n) => n >= 1 }),
    Config.withDefault(defaults.messagesPerSecond)
  ),
  maxConnectionsPerUser: Config.integer("WS_MAX_CONNECTIONS_PER_USER").pipe(
    Config.validate({
      message: "WS_MAX_CONNECTIONS_PER_USER must be between 1 and 100000",
      validation: (n) => n >= 1 && n <= 100_000
    }),
    Config.withDefault(defaults.maxConnectionsPerUser)
  )
}).pipe(Config.map(({ heartbeatSeconds, pollMillis, ...rest }) => ({
  ...defaults,
  ...rest,
  pollInterval: Duration.millis(pollMillis),
  heartbeatInterval: Duration.seconds(heartbeatSeconds)
})))

const Since = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())

const queryOf = (url: string) => {
  const params = new URL(url, "http://gateway").searchParams
  const projectParam = params.get("projectId")
  const sinceParam = params.get("since")
  const projectId = projectParam === null || projectParam === ""
    ? Either.right(Option.none<ProjectId>())
    : Either.map(Schema.decodeUnknownEither(ProjectId)(projectParam), Option.some)
  const since = sinceParam === null || sinceParam === ""
    ? Either.right(undefined)
    : Schema.decodeUnknownEither(Since)(sinceParam)
  return { projectId, since, token: params.get("token") }
}

const bearerOf = (request: IncomingMessage): string | null => {
  const header = request.headers.authorization
  if (header === undefined) return null
  const match = /^Bearer\s+(.+)$/i.exec(header.trim())
  return match?.[1] ?? null
}

const problem = (status: number, tag: string, message: string) =>
  HttpServerResponse.unsafeJson({ _tag: tag, message }, { status })

export interface WsGatewayStats {
  readonly connections: number
  readonly feeds: number
  /** Connections closed with 1013 since start. */
  readonly slowConsumerClosures: number
}

/**
 * Builds the gateway (its `ws` server, feeds and heartbeat live in the scope) and returns the
 * route handler plus live statistics.
 */
export const make = (config: ServerConfig, options: WsOptions = defaults) =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const bus = yield* EventBus
    const run = yield* FiberSet.makeRuntime<never>()
    const feeds = yield* ProjectFeeds.make(journal, bus, { pollInterval: options.pollInterval })
    const wss = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new WebSocketServer({
          noServer: true,
          maxPayload: MAX_CLIENT_MESSAGE_BYTES,
          perMessageDeflate: false,
          clientTracking: false
        })
      ),
      (server) => Effect.async<void>((resume) => server.close(() => resume(Effect.void)))
    )
    const connections = new Map<WebSocket, { alive: boolean; connection: WsConnection.Connection }>()
    /** Open (and upgrading) connections per token `sub`, when authentication is on. */
    const perUser = new Map<string, number>()
    const capped = Option.isSome(config.jwtSecret)
    const release = (sub: string) => {
      const left = (perUser.get(sub) ?? 1) - 1
      if (left <= 0) perUser.delete(sub)
      else perUser.set(sub, left)
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const [ws] of connections) ws.close(1001, "server shutting down")
        Metrics.wsConnections.dec(connections.size)
        connections.clear()
      })
    )

    let slowClosures = 0

    // server-side keep-alive: every interval (on the Effect clock) ping everyone; whoever did not
    // answer the previous round is dead
    const heartbeat = Effect.sync(() => {
      for (const [ws, entry] of connections) {
        if (!entry.alive) {
          ws.terminate()
          continue
        }
        entry.alive = false
        ws.ping()
      }
    })
    yield* Effect.forkScoped(Effect.schedule(heartbeat, Schedule.spaced(options.heartbeatInterval)))

    const check = yield* Authentication.makeVerifier(config)
    const authenticate: (token: string | null) => Effect.Effect<Auth.Principal, string> = Option.match(
      config.jwtSecret,
      {
        onNone: () => () => Effect.succeed(Authentication.localPrincipal),
        onSome: () => (token) =>
          token === null
            ? Effect.fail("missing token: pass ?token=<JWT> or an Authorization: Bearer header")
            : Effect.mapError(check(token), (error) => error.message)
      }
    )

    const accept = (ws: WebSocket, principal: Auth.Principal, projectId: Option.Option<ProjectId>, since?: number) => {
      const entry = {
        alive: true,
        connection: WsConnection.make({
          ws,
          principal,
          feeds,
          limits: options,
          run,
          onOverflow: (reason) => {
            slowClosures++
            Metrics.wsSlowConsumerClosures.inc()
            run(Effect.logWarning("closing a WebSocket whose consumer is too slow (1013)", reason))
          }
        })
      }
      connections.set(ws, entry)
      Metrics.wsConnections.inc()
      ws.on("pong", () => {
        entry.alive = true
      })
      ws.on("message", (data, isBinary) => {
        entry.alive = true
        entry.connection.onMessage(isBinary ? "" : data.toString(), isBinary)
      })
      // too-big messages (1009) and protocol errors: ws closes the socket itself; nothing to crash
      ws.on("error", (error) => {
        run(Effect.logDebug("WebSocket error", error.message))
      })
      ws.on("close", () => {
        if (connections.delete(ws)) Metrics.wsConnections.dec()
        entry.connection.onClose()
      })
      if (Option.isSome(projectId)) entry.connection.subscribe(projectId.value, since)
    }

    const upgrade = (request: HttpServerRequest.HttpServerRequest, nodeRequest: IncomingMessage) =>
      Effect.async<WebSocket, string>((resume) => {
        const socket = nodeRequest.socket
        const onClose = () => resume(Effect.fail("socket closed before the upgrade completed"))
        socket.once("close", onClose)
        wss.handleUpgrade(nodeRequest, socket, Buffer.alloc(0), (ws) => {
          socket.off("close", onClose)
          // the platform creates its response lazily on this socket: detach it so that whatever it
          // writes after this handler returns goes nowhere
          NodeHttpServerRequest.toServerResponse(request).detachSocket(socket)
          resume(Effect.succeed(ws))
        })
        return Effect.sync(() => socket.off("close", onClose))
      })

    const handler = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const nodeRequest = NodeHttpServerRequest.toIncomingMessage(request)
        if ((nodeRequest.headers.upgrade ?? "").toLowerCase() !== "websocket") {
          return problem(426, "UpgradeRequired", `${PATH} is a WebSocket endpoint: connect with a WebSocket client`)
        }
        const query = queryOf(request.url)
        if (Either.isLeft(query.projectId)) {
          return problem(400, "BadRequest", "projectId: 1–200 chars of [A-Za-z0-9._/-], no '..', no leading '/'")
        }
        if (Either.isLeft(query.since)) return problem(400, "BadRequest", "since: a non-negative integer seq")
        const principal = yield* Effect.either(authenticate(query.token ?? bearerOf(nodeRequest)))
        if (Either.isLeft(principal)) return problem(401, "Unauthorized", principal.left)
        const sub = principal.right.userId
        if (capped) {
          const open = perUser.get(sub) ?? 0
          if (open >= options.maxConnectionsPerUser) {
            return problem(
              429,
              "TooManyRequests",
              `at most ${options.maxConnectionsPerUser} WebSocket connections per user (WS_MAX_CONNECTIONS_PER_USER); close one first`
            )
          }
        }
        // the place is taken and, unless the upgrade succeeds, given back — also on interruption
        const ws = yield* Effect.either(Effect.uninterruptibleMask((restore) =>
          Effect.sync(() => {
            if (capped) perUser.set(sub, (perUser.get(sub) ?? 0) + 1)
          }).pipe(
            Effect.zipRight(restore(upgrade(request, nodeRequest))),
            Effect.tap((socket) =>
              Effect.sync(() => {
                if (capped) socket.once("close", () => release(sub))
              })
            ),
            Effect.onExit((exit) =>
              Effect.sync(() => {
                if (capped && exit._tag === "Failure") release(sub)
              })
            )
          )
        ))
        if (Either.isLeft(ws)) return HttpServerResponse.empty({ status: 400 })
        const projectId = query.projectId.right
        if (Option.isSome(projectId) && !Auth.canAccessProject(principal.right, projectId.value)) {
          ws.right.close(WsConnection.CloseCodes.policy, "forbidden: not allowed to follow this project")
          return HttpServerResponse.empty({ status: 101 })
        }
        accept(ws.right, principal.right, projectId, query.since.right)
        return HttpServerResponse.empty({ status: 101 })
      })

    return {
      handler,
      stats: (): WsGatewayStats => ({
        connections: connections.size,
        feeds: feeds.size(),
        slowConsumerClosures: slowClosures
      }),
      connectionStats: () => [...connections.values()].map((entry) => entry.connection.stats())
    }
  })

/** The `/ws/devteam` route for `HttpLayerRouter` (needs the Journal and the EventBus). */
export const layerWith = (config: ServerConfig, options: WsOptions) =>
  Layer.unwrapScoped(
    Effect.map(make(config, options), (gateway) => HttpLayerRouter.add("GET", PATH, gateway.handler))
  )

/** The `/ws/devteam` route with its options from the environment (`WsConfig`). */
export const layer = (config: ServerConfig) =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const options = yield* WsConfig
      const gateway = yield* make(config, options)
      return HttpLayerRouter.add("GET", PATH, gateway.handler)
    })
  )
