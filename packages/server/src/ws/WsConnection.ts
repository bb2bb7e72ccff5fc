/**
 * One WebSocket connection: its subscriptions (several projects, each one gap-free stream from the
 * project's feed: `subscribed`, the replay from `since`, `replay-complete`, live frames), the
 * client messages (subscribe / unsubscribe / ping, rate-limited, malformed → error frame) and the
 * bounded outbox (close 1013 for a consumer that cannot keep up; the replay waits for it to drain).
 */
import * as Auth from "@devteam/domain/Auth"
import type { ProjectId } from "@devteam/domain/Ids"
import {
  ClientMessage,
  type EncodedFrame,
  ErrorFrame,
  PongFrame,
  ReplayCompleteFrame,
  SubscribedFrame
} from "@devteam/domain/WsFrame"
import { Clock, Duration, Effect, Either, Fiber, FiberId, ParseResult, Schema } from "effect"
import type { WebSocket } from "ws"
import * as Metrics from "../Metrics.js"
import * as Outbox from "./Outbox.js"
import type { ProjectFeeds } from "./ProjectFeeds.js"

export interface ConnectionLimits extends Outbox.OutboxLimits {
  /** Projects one connection may follow at once. */
  readonly maxSubscriptions: number
  /** Client messages per second (token bucket; burst twice that). */
  readonly messagesPerSecond: number
  /** Messages dropped over the rate within 10 s that close the connection (1008). */
  readonly floodCloseAfter: number
  /** After a 1013/1008 close, how long the peer gets to read its close frame before the socket is cut. */
  readonly closeGraceMillis: number
}

export const CloseCodes = {
  policy: 1008,
  tooBig: 1009,
  tryAgainLater: 1013
} as const

const FLOOD_WINDOW_MILLIS = 10_000
/** Replay waits for the outbox to drain to this many frames before reading the next page. */
const REPLAY_LOW_WATER = 64

const decodeMessage = Schema.decodeUnknownEither(Schema.parseJson(ClientMessage))

/** The frames a connection sends of its own (not from the journal), encoded with the domain's schemas. */
const ControlFrame = Schema.Union(SubscribedFrame, ReplayCompleteFrame, ErrorFrame, PongFrame)
type ControlFrame = typeof ControlFrame.Type
const encodeControl = Schema.encodeSync(ControlFrame)

type Run = <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>

interface Subscription {
  readonly projectId: ProjectId
  /** Until unsubscribed: from then on nothing of it is sent, even before its fiber is gone. */
  active: boolean
  fiber: Fiber.RuntimeFiber<void> | undefined
}

export interface Connection {
  readonly subscribe: (projectId: ProjectId, since: number | undefined) => void
  readonly onMessage: (data: string, isBinary: boolean) => void
  readonly onClose: () => void
  readonly stats: () => Outbox.OutboxStats & { readonly subscriptions: number }
}

const now = () => new Date().toISOString()

/** The clock's longest single sleep: a JS timer's limit (~24.8 days); a later time is slept towards in steps. */
const MAX_SLEEP_MILLIS = 2 ** 31 - 1

/** Completes once the clock reads `epochMillis` or later. */
const untilTime = (epochMillis: number): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (millis) => {
    const wait = epochMillis - millis
    return wait <= 0
      ? Effect.void
      : Effect.zipRight(Effect.sleep(Duration.millis(Math.min(wait, MAX_SLEEP_MILLIS))), untilTime(epochMillis))
  })

const truncate = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text)

export const make = (options: {
  readonly ws: WebSocket
  readonly principal: Auth.Principal
  readonly feeds: ProjectFeeds
  readonly limits: ConnectionLimits
  readonly run: Run
  readonly onOverflow: (reason: string) => void
}): Connection => {
  const { feeds, limits, principal, run, ws } = options
  const subscriptions = new Map<ProjectId, Subscription>()
  let closed = false
  // the connection's timers run on the Effect clock (TestClock in tests), as fibers of `run`
  let closeTimer: Fiber.RuntimeFiber<void> | undefined
  let expiryTimer: Fiber.RuntimeFiber<void> | undefined
  const cancel = (timer: Fiber.RuntimeFiber<void> | undefined) => timer?.unsafeInterruptAsFork(FiberId.none)

  const closeWith = (code: number, reason: string) => {
    if (closed) return
    closed = true
    cancel(expiryTimer)
    outbox.close()
    for (const sub of subscriptions.values()) stop(sub)
    subscriptions.clear()
    ws.close(code, reason)
    // a peer that does not read never completes the closing handshake: cut it after a grace period
    closeTimer = run(Effect.delay(Effect.sync(() => ws.terminate()), Duration.millis(limits.closeGraceMillis)))
  }

  const outbox: Outbox.Outbox = Outbox.make({
    send: (data, done) => {
      Metrics.wsFramesSent.inc()
      ws.send(data, () => done())
    },
    overflow: (reason) => {
      options.onOverflow(reason)
      closeWith(CloseCodes.tryAgainLater, "consumer too slow")
    }
  }, limits)

  const control = (frame: ControlFrame) => outbox.pushControl(JSON.stringify(encodeControl(frame)))

  const sendError = (message: string, projectId?: string) =>
    control({ type: "error", ts: now(), payload: projectId === undefined ? { message } : { message, projectId } })

  const stop = (sub: Subscription) => {
    sub.active = false
    if (sub.fiber !== undefined) run(Fiber.interrupt(sub.fiber))
    outbox.purge(sub.projectId)
  }

  const waitForRoom = Effect.async<void>((resume) => {
    const cancel = outbox.whenBelow(REPLAY_LOW_WATER, () => resume(Effect.void))
    return Effect.sync(cancel)
  })

  const follow = (sub: Subscription, since: number | undefined) =>
    Effect.gen(function*() {
      const projectId = sub.projectId
      yield* feeds.follow(projectId, since, {
        subscribed: (lastSeq) => {
          if (sub.active) control({ type: "subscribed", ts: now(), projectId, payload: { projectId, lastSeq } })
        },
        frame: ({ frame, json }: EncodedFrame) => {
          if (sub.active) outbox.pushFrame(projectId, frame, json)
        },
        live: (lastSeq) => {
          if (sub.active) control({ type: "replay-complete", ts: now(), projectId, payload: { projectId, lastSeq } })
        },
        room: waitForRoom
      })
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      Effect.catchAllCause((cause) =>
        Effect.logWarning("WebSocket subscription failed", cause).pipe(
          Effect.zipRight(Effect.sync(() => {
            sendError("subscription failed; subscribe again", sub.projectId)
            if (subscriptions.get(sub.projectId) === sub) subscriptions.delete(sub.projectId)
          }))
        )
      ),
      Effect.annotateLogs({ projectId: sub.projectId })
    )

  const subscribe = (projectId: ProjectId, since: number | undefined) => {
    if (closed) return
    if (!Auth.canAccessProject(principal, projectId)) {
      sendError(`not allowed to follow project ${projectId}`, projectId)
      return
    }
    const existing = subscriptions.get(projectId)
    if (existing !== undefined) {
      // a new subscribe restarts the subscription (e.g. with another `since`)
      subscriptions.delete(projectId)
      stop(existing)
    } else if (subscriptions.size >= limits.maxSubscriptions) {
      sendError(`at most ${limits.maxSubscriptions} projects per connection`, projectId)
      return
    }
    const sub: Subscription = { projectId, active: true, fiber: undefined }
    subscriptions.set(projectId, sub)
    sub.fiber = run(follow(sub, since))
  }

  const unsubscribe = (projectId: ProjectId) => {
    const sub = subscriptions.get(projectId)
    if (sub === undefined) return
    subscriptions.delete(projectId)
    stop(sub)
  }

  // token bucket; drops are counted per 10 s window and too many of them close the connection
  let tokens = limits.messagesPerSecond * 2
  let refilled = Date.now()
  let dropped = 0
  let windowStart = 0
  const admit = (): boolean => {
    const t = Date.now()
    tokens = Math.min(limits.messagesPerSecond * 2, tokens + ((t - refilled) / 1000) * limits.messagesPerSecond)
    refilled = t
    if (tokens >= 1) {
      tokens -= 1
      return true
    }
    if (t - windowStart > FLOOD_WINDOW_MILLIS) {
      windowStart = t
      dropped = 0
    }
    dropped++
    if (dropped === 1) sendError(`too many messages: at most ${limits.messagesPerSecond} per second; dropped`)
    if (dropped >= limits.floodCloseAfter) closeWith(CloseCodes.policy, "message flood")
    return false
  }

  const onMessage = (data: string, isBinary: boolean) => {
    if (closed || !admit()) return
    if (isBinary) {
      sendError("binary messages are not supported: send JSON text")
      return
    }
    const decoded = decodeMessage(data)
    if (Either.isLeft(decoded)) {
      sendError(
        `malformed message (expected {"type":"subscribe"|"unsubscribe"|"ping",...}): ${
          truncate(ParseResult.TreeFormatter.formatErrorSync(decoded.left), 300)
        }`
      )
      return
    }
    const message = decoded.right
    switch (message.type) {
      case "ping":
        control({ type: "pong", ts: now() })
        return
      case "subscribe":
        subscribe(message.projectId, message.since)
        return
      case "unsubscribe":
        unsubscribe(message.projectId)
        return
    }
  }

  // the token was checked at the upgrade only: when it expires the connection ends (1008), and the
  // client reconnects with a fresh one
  const expiresAt = principal.expiresAt
  if (expiresAt !== undefined) {
    expiryTimer = run(
      Effect.zipRight(untilTime(expiresAt), Effect.sync(() => closeWith(CloseCodes.policy, "token expired")))
    )
  }

  const onClose = () => {
    cancel(closeTimer)
    cancel(expiryTimer)
    closed = true
    outbox.close()
    for (const sub of subscriptions.values()) stop(sub)
    subscriptions.clear()
  }

  return {
    subscribe,
    onMessage,
    onClose,
    stats: () => ({ ...outbox.stats(), subscriptions: subscriptions.size })
  }
}
