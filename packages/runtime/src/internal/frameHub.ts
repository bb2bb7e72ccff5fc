/**
 * In-process fan-out of frames to the subscribers of each project: a bounded sliding queue per
 * subscriber (a slow consumer loses its oldest frames, which `Journal.follow` refills from the
 * journal by seq).
 */
import type { ProjectId } from "@devteam/domain/Ids"
import type { EncodedFrame } from "@devteam/domain/WsFrame"
import { Effect, Queue, type Scope, Stream } from "effect"

/** Frames buffered per subscriber before the oldest are dropped. */
export const SUBSCRIBER_BUFFER = 4096

export interface FrameHub {
  readonly deliver: (projectId: string, frames: ReadonlyArray<EncodedFrame>) => Effect.Effect<void>
  /**
   * Registers a subscriber. `onFirst`/`onLast` run when a project gains its first subscriber or
   * loses its last one (the Redis adapter SUBSCRIBEs / UNSUBSCRIBEs there).
   */
  readonly subscribe: (projectId: ProjectId) => Effect.Effect<Stream.Stream<EncodedFrame>, never, Scope.Scope>
  readonly projects: () => ReadonlyArray<string>
  readonly count: (projectId: string) => number
}

export const make = (hooks?: {
  readonly onFirst: (projectId: ProjectId) => Effect.Effect<void>
  readonly onLast: (projectId: ProjectId) => Effect.Effect<void>
}): FrameHub => {
  const subscribers = new Map<string, Set<Queue.Queue<EncodedFrame>>>()
  const deliver = (projectId: string, frames: ReadonlyArray<EncodedFrame>) =>
    Effect.suspend(() => {
      const set = subscribers.get(projectId)
      if (set === undefined || frames.length === 0) return Effect.void
      // sliding queues never suspend an offer: a full one drops its oldest frame
      return Effect.forEach([...set], (queue) => Queue.offerAll(queue, frames), { discard: true })
    })
  const subscribe = (projectId: ProjectId) =>
    Effect.gen(function*() {
      const queue = yield* Queue.sliding<EncodedFrame>(SUBSCRIBER_BUFFER)
      yield* Effect.acquireRelease(
        Effect.suspend(() => {
          const existing = subscribers.get(projectId)
          if (existing !== undefined) {
            existing.add(queue)
            return Effect.void
          }
          subscribers.set(projectId, new Set([queue]))
          return hooks === undefined ? Effect.void : hooks.onFirst(projectId)
        }),
        () =>
          Effect.suspend(() => {
            const set = subscribers.get(projectId)
            set?.delete(queue)
            const last = set !== undefined && set.size === 0
            if (last) subscribers.delete(projectId)
            return Effect.zipRight(
              Queue.shutdown(queue),
              last && hooks !== undefined ? hooks.onLast(projectId) : Effect.void
            )
          })
      )
      return Stream.fromQueue(queue)
    })
  return {
    deliver,
    subscribe,
    projects: () => [...subscribers.keys()],
    count: (projectId) => subscribers.get(projectId)?.size ?? 0
  }
}

/** A subscription that never delivers anything. */
export const never: Stream.Stream<EncodedFrame> = Stream.never
