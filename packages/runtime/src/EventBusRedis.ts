/**
 * The event bus over Redis pub/sub, for more than one gateway process: every process holds one
 * publisher and one subscriber connection; a project's frames go to channel
 * `devteam:frames:<projectId>` as a JSON array of their texts as the journal encoded them. The subscriber connection SUBSCRIBEs a channel
 * while the process has at least one local subscriber of that project (reference counted) and
 * fans messages out in-process.
 *
 * Redis trouble never crashes anything and never blocks an append: ioredis reconnects with
 * backoff and re-subscribes by itself; while it is down, publishing drops frames (logged) and
 * consumers fill the gap from the journal (`Journal.follow` polls it).
 */
import type { ProjectId } from "@devteam/domain/Ids"
import { type EncodedFrame, JournalFrame } from "@devteam/domain/WsFrame"
import { Config, type ConfigError, Deferred, Effect, Either, Layer, Option, Redacted, Runtime, Schema } from "effect"
import { Redis, type RedisOptions } from "ioredis"
import { EventBus, type EventBusService } from "./EventBus.js"
import * as Hub from "./internal/frameHub.js"

export const CHANNEL_PREFIX = "devteam:frames:"

export const channelOf = (projectId: string): string => `${CHANNEL_PREFIX}${projectId}`

/** `REDIS_URL` (secret: it may hold a password); unset or empty → in-process bus. */
export const RedisConfig = Config.option(Config.redacted("REDIS_URL")).pipe(
  Config.map(Option.filter((url) => Redacted.value(url).trim().length > 0))
)

const decodeFrames = Schema.decodeUnknownEither(Schema.Array(JournalFrame))

/** A message's frames, each with its text as published (decoded once here, not encoded again). */
const framesOf = (message: string): Either.Either<ReadonlyArray<EncodedFrame>, unknown> => {
  const parsed = Either.try((): unknown => JSON.parse(message))
  if (Either.isLeft(parsed)) return Either.left(parsed.left)
  const items = parsed.right
  if (!Array.isArray(items)) return Either.left("not a JSON array")
  return Either.map(
    decodeFrames(items),
    (frames) => frames.map((frame, i): EncodedFrame => ({ frame, json: JSON.stringify(items[i]) }))
  )
}

/** How long `subscribe` waits for Redis to confirm a SUBSCRIBE before going on degraded. */
const SUBSCRIBE_WAIT = "2 seconds"

const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000)

const connectionOptions = (name: string): RedisOptions => ({
  connectionName: name,
  retryStrategy,
  connectTimeout: 2000,
  // reconnect after READONLY (failover) as well as on connection loss
  reconnectOnError: (error) => error.message.startsWith("READONLY")
})

const makeRedisBus = (url: Redacted.Redacted) =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runFork(runtime)
    const hub = Hub.make()
    let closing = false
    let publishFailing = false

    const connect = (name: string, options: RedisOptions) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const client = new Redis(Redacted.value(url), { ...connectionOptions(name), ...options })
          let up = false
          client.on("ready", () => {
            if (!up) run(Effect.logInfo("redis connected").pipe(Effect.annotateLogs({ connection: name })))
            up = true
          })
          client.on("close", () => {
            if (up && !closing) {
              run(
                Effect.logWarning("redis connection lost; reconnecting").pipe(Effect.annotateLogs({ connection: name }))
              )
            }
            up = false
          })
          // errors are reported by "close"/"ready"; without a listener ioredis would throw them
          client.on(
            "error",
            (error: Error) =>
              run(Effect.logDebug("redis error", error.message).pipe(Effect.annotateLogs({ connection: name })))
          )
          return client
        }),
        (client) =>
          Effect.sync(() => {
            closing = true
          }).pipe(
            Effect.zipRight(Effect.promise(() => client.quit().then(() => undefined, () => undefined))),
            Effect.timeout("1 second"),
            Effect.ignore,
            Effect.ensuring(Effect.sync(() => client.disconnect()))
          )
      )

    // publisher: fail fast while disconnected (frames are dropped, consumers poll the journal)
    const publisher = yield* connect("devteam-publisher", { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    // subscriber: commands wait for the connection; ioredis re-subscribes after a reconnect
    const subscriber = yield* connect("devteam-subscriber", { maxRetriesPerRequest: null, autoResubscribe: true })

    // give both connections a moment at start-up (never fails: a Redis that is down is retried in the background)
    yield* Effect.forEach([publisher, subscriber], (client) =>
      Effect.async<void>((resume) => {
        if (client.status === "ready") return resume(Effect.void)
        const onReady = () => resume(Effect.void)
        client.once("ready", onReady)
        return Effect.sync(() => client.off("ready", onReady))
      }).pipe(Effect.timeoutOption("2 seconds")), { concurrency: 2, discard: true })

    subscriber.on("message", (channel: string, message: string) => {
      if (!channel.startsWith(CHANNEL_PREFIX)) return
      const frames = framesOf(message)
      if (Either.isLeft(frames)) {
        run(Effect.logWarning("ignoring a malformed frame message", { channel }))
        return
      }
      const thrown = hub.deliver(channel.slice(CHANNEL_PREFIX.length), frames.right)
      if (thrown.length > 0) {
        run(Effect.logError("a frame listener threw", thrown[0]).pipe(Effect.annotateLogs({ channel })))
      }
    })

    // reference count per project channel; `ready` completes when Redis confirmed the SUBSCRIBE
    const channels = new Map<string, { count: number; ready: Deferred.Deferred<void> }>()

    const retain = (projectId: ProjectId) =>
      Effect.gen(function*() {
        const existing = channels.get(projectId)
        if (existing !== undefined) {
          existing.count++
          return existing.ready
        }
        const ready = yield* Deferred.make<void>()
        channels.set(projectId, { count: 1, ready })
        subscriber.subscribe(channelOf(projectId)).then(
          () => run(Deferred.succeed(ready, undefined)),
          (error: unknown) =>
            run(
              Effect.logWarning("redis SUBSCRIBE failed", String(error)).pipe(
                Effect.zipRight(Deferred.succeed(ready, undefined))
              )
            )
        )
        return ready
      })

    const releaseChannel = (projectId: ProjectId) =>
      Effect.sync(() => {
        const entry = channels.get(projectId)
        if (entry === undefined) return
        entry.count--
        if (entry.count > 0) return
        channels.delete(projectId)
        subscriber.unsubscribe(channelOf(projectId)).catch((error: unknown) =>
          run(Effect.logDebug("redis UNSUBSCRIBE failed", String(error)))
        )
      })

    const service: EventBusService = {
      kind: "redis",
      publish: (projectId, frames) =>
        frames.length === 0 ? Effect.void : Effect.sync(() => {
          // not awaited: one connection keeps the order; a failure only costs live delivery
          publisher.publish(channelOf(projectId), `[${frames.map((f) => f.json).join(",")}]`).then(
            () => {
              if (publishFailing) run(Effect.logInfo("redis PUBLISH works again"))
              publishFailing = false
            },
            (error: unknown) => {
              // one warning per outage, not one per frame
              if (!publishFailing) {
                run(
                  Effect.logWarning(
                    "redis PUBLISH failed; frames are dropped (consumers read the journal)",
                    String(error)
                  )
                    .pipe(Effect.annotateLogs({ projectId }))
                )
              }
              publishFailing = true
            }
          )
        }),
      subscribe: (projectId, listener) =>
        Effect.gen(function*() {
          yield* hub.subscribe(projectId, listener)
          const ready = yield* Effect.acquireRelease(retain(projectId), () => releaseChannel(projectId))
          const confirmed = yield* Deferred.await(ready).pipe(Effect.timeoutOption(SUBSCRIBE_WAIT))
          if (Option.isNone(confirmed)) {
            yield* Effect.logWarning("redis did not confirm SUBSCRIBE in time; continuing degraded").pipe(
              Effect.annotateLogs({ projectId })
            )
          }
        })
    }
    return service
  })

/** The bus over the Redis at `url`. Building it never fails: an unreachable Redis is retried in the background. */
export const layer = (url: Redacted.Redacted): Layer.Layer<EventBus> => Layer.scoped(EventBus, makeRedisBus(url))

/** `REDIS_URL` set → Redis; unset → in-process (`EventBus.layerMemory`). */
export const layerConfig: Layer.Layer<EventBus, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(RedisConfig, Option.match({ onSome: layer, onNone: () => EventBus.layerMemory }))
)
