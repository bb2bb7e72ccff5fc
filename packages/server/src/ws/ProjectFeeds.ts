/**
 * One live feed per project per gateway process, shared by every WebSocket subscribed to it: a
 * single `Journal.follow` (event bus + periodic journal poll, gap-free and duplicate-free) whose
 * frames are encoded to JSON once and handed to every listener synchronously, in seq order.
 *
 * `cursor()` is the seq of the last frame dispatched. A listener that joins sees every frame with
 * seq > the cursor at the moment it joined (dispatch and join both run synchronously on the event
 * loop), which is what the replay → live switch of `WsConnection` relies on.
 *
 * The feed starts with the first listener (from the journal's last seq at that moment) and stops
 * with the last one. A feed whose follow dies (database down) restarts from its cursor after a
 * pause, so nothing is skipped.
 */
import type { ProjectId } from "@devteam/domain/Ids"
import { JournalFrame } from "@devteam/domain/WsFrame"
import type { JournalService } from "@devteam/runtime/Journal"
import { Deferred, Duration, Effect, Fiber, Schema, type Scope, Stream } from "effect"

export type FrameListener = (frame: JournalFrame, json: string) => void

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

const encodeFrame = Schema.encodeSync(JournalFrame)

/** The JSON text of a journal frame (its encoded form). */
export const frameJson = (frame: JournalFrame): string => JSON.stringify(encodeFrame(frame))

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

    const dispatch = (feed: Feed, frame: JournalFrame) =>
      Effect.sync(() => {
        if (frame.seq <= feed.cursor) return
        feed.cursor = frame.seq
        if (feed.listeners.size === 0) return
        const json = frameJson(frame)
        for (const listener of feed.listeners) listener(frame, json)
      })

    const run = (projectId: ProjectId, feed: Feed) =>
      Effect.gen(function*() {
        feed.cursor = yield* journal.lastSeq(projectId)
        yield* Deferred.succeed(feed.ready, undefined)
        const follow = Effect.suspend(() =>
          Stream.runForEach(
            journal.follow(projectId, feed.cursor, { pollInterval: options.pollInterval }),
            (frame) => dispatch(feed, frame)
          )
        )
        // follow only ends by defect (database trouble): resume from the cursor after a pause
        yield* follow.pipe(
          Effect.catchAllCause((cause) =>
            Effect.logWarning("WebSocket feed failed; restarting from its cursor", cause).pipe(
              Effect.zipRight(Effect.sleep(restartDelay))
            )
          ),
          Effect.forever
        )
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logError("WebSocket feed could not start", cause)),
        Effect.annotateLogs({ projectId })
      )

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
