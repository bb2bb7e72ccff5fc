/**
 * One live feed per project per gateway process, shared by every WebSocket subscribed to it: a
 * single `Journal.follow` (event bus + periodic journal poll, gap-free and duplicate-free) whose
 * frames (with the text the journal encoded) are handed to every listener synchronously, in seq order.
 *
 * `cursor()` is the seq of the last frame dispatched. A listener that joins sees every frame with
 * seq > the cursor at the moment it joined (dispatch and join both run synchronously on the event
 * loop), which is what the replay → live switch of `WsConnection` relies on.
 *
 * The feed starts with the first listener (from the journal's last seq at that moment) and stops
 * with the last one. A feed whose start or follow dies (database down) tries again after a
 * backoff (capped), from its cursor, so nothing is skipped.
 */
import type { ProjectId } from "@devteam/domain/Ids"
import type { EncodedFrame } from "@devteam/domain/WsFrame"
import type { JournalService } from "@devteam/runtime/Journal"
import { Cause, Deferred, Duration, Effect, Fiber, Schedule, type Scope, Stream } from "effect"

export type FrameListener = (frame: EncodedFrame) => void

export interface FeedHandle {
  /** Completes once the feed knows its starting point (the journal's last seq when it started). */
  readonly ready: Effect.Effect<void>
  /** The seq of the last frame dispatched to listeners. */
  readonly cursor: () => number
}

export interface ProjectFeeds {
  /** Adds `listener` to the project's feed (starting it if needed) for the lifetime of the scope. */
  readonly join: (projectId: ProjectId, listener: FrameListener) => Effect.Effect<FeedHandle, never, Scope.Scope>
  /** Projects with a running feed. */
  readonly size: () => number
}

interface Feed {
  cursor: number
  readonly ready: Deferred.Deferred<void>
  readonly listeners: Set<FrameListener>
  fiber: Fiber.RuntimeFiber<void> | undefined
}

export const make = (
  journal: JournalService,
  options: { readonly pollInterval: Duration.DurationInput; readonly restartDelay?: Duration.DurationInput }
): Effect.Effect<ProjectFeeds, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const feeds = new Map<ProjectId, Feed>()
    const restartDelay = options.restartDelay ?? Duration.seconds(1)

    const dispatch = (feed: Feed, frame: EncodedFrame) =>
      Effect.sync(() => {
        if (frame.frame.seq <= feed.cursor) return
        feed.cursor = frame.frame.seq
        for (const listener of feed.listeners) listener(frame)
      })

    // A feed whose start or follow dies (database down) tries again after a backoff: exponential from
    // `restartDelay`, capped at 30 s, back to the start after a minute without trouble.
    const restartSchedule = Schedule.union(Schedule.exponential(restartDelay), Schedule.spaced("30 seconds")).pipe(
      Schedule.resetAfter("1 minute")
    )

    const run = (projectId: ProjectId, feed: Feed) => {
      let started = false
      const follow = Effect.gen(function*() {
        if (!started) {
          feed.cursor = yield* journal.lastSeq(projectId)
          started = true
          yield* Deferred.succeed(feed.ready, undefined)
        }
        yield* Stream.runForEach(
          journal.follow(projectId, feed.cursor, { pollInterval: options.pollInterval }),
          (frame) => dispatch(feed, frame)
        )
        return yield* Effect.dieMessage("journal follow ended")
      })
      // follow only ends by defect (database trouble): resume from the cursor after the backoff
      return follow.pipe(
        Effect.sandbox,
        Effect.tapError((cause) =>
          Effect.logWarning(
            started ? "WebSocket feed failed; restarting from its cursor" : "WebSocket feed could not start; retrying",
            cause
          )
        ),
        Effect.retry({ schedule: restartSchedule, while: (cause) => !Cause.isInterruptedOnly(cause) }),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logError("WebSocket feed ended", cause)
        ),
        Effect.annotateLogs({ projectId })
      )
    }

    const join = (projectId: ProjectId, listener: FrameListener) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          let feed = feeds.get(projectId)
          if (feed === undefined) {
            const created: Feed = {
              cursor: 0,
              ready: yield* Deferred.make<void>(),
              listeners: new Set(),
              fiber: undefined
            }
            feeds.set(projectId, created)
            // acquire is uninterruptible and a fork inherits that: the feed itself must be interruptible
            created.fiber = yield* Effect.forkIn(Effect.interruptible(run(projectId, created)), scope)
            feed = created
          }
          feed.listeners.add(listener)
          const joined = feed
          return {
            handle: {
              ready: Deferred.await(joined.ready),
              cursor: () => joined.cursor
            } satisfies FeedHandle,
            feed: joined
          }
        }),
        ({ feed }) =>
          Effect.suspend(() => {
            feed.listeners.delete(listener)
            if (feed.listeners.size > 0 || feeds.get(projectId) !== feed) return Effect.void
            feeds.delete(projectId)
            return feed.fiber === undefined ? Effect.void : Fiber.interruptFork(feed.fiber)
          })
      ).pipe(Effect.map(({ handle }) => handle))

    return { join, size: () => feeds.size }
  })
