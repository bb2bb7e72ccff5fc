/**
 * In-process fan-out of frames to the subscribers of each project: a subscriber is a callback,
 * called synchronously, in publish order, with each published batch (no queue, no fiber per
 * subscriber). A callback must be cheap: the gateway's feeds only move a cursor and hand the frame
 * to the connections' bounded outboxes. One that throws does not keep the others from their frames.
 */
import type { ProjectId } from "@devteam/domain/Ids"
import type { EncodedFrame } from "@devteam/domain/WsFrame"
import { Effect, type Scope } from "effect"

export type FrameListener = (frames: ReadonlyArray<EncodedFrame>) => void

export interface FrameHub {
  /** Calls every listener of the project with `frames`, before returning; what listeners threw. */
  readonly deliver: (projectId: string, frames: ReadonlyArray<EncodedFrame>) => ReadonlyArray<unknown>
  /** Registers a listener for the lifetime of the scope. */
  readonly subscribe: (projectId: ProjectId, listener: FrameListener) => Effect.Effect<void, never, Scope.Scope>
  readonly projects: () => ReadonlyArray<string>
  readonly count: (projectId: string) => number
}

export const make = (): FrameHub => {
  const listeners = new Map<string, Set<FrameListener>>()
  const deliver = (projectId: string, frames: ReadonlyArray<EncodedFrame>): ReadonlyArray<unknown> => {
    const set = listeners.get(projectId)
    if (set === undefined || frames.length === 0) return []
    const thrown: Array<unknown> = []
    for (const listener of set) {
      try {
        listener(frames)
      } catch (error) {
        thrown.push(error)
      }
    }
    return thrown
  }
  const subscribe = (projectId: ProjectId, listener: FrameListener) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        // a listener of its own, even when the same function subscribes twice
        const own: FrameListener = (frames) => listener(frames)
        const existing = listeners.get(projectId)
        if (existing === undefined) listeners.set(projectId, new Set([own]))
        else existing.add(own)
        return own
      }),
      (own) =>
        Effect.sync(() => {
          const set = listeners.get(projectId)
          set?.delete(own)
          if (set !== undefined && set.size === 0) listeners.delete(projectId)
        })
    ).pipe(Effect.asVoid)
  return {
    deliver,
    subscribe,
    projects: () => [...listeners.keys()],
    count: (projectId) => listeners.get(projectId)?.size ?? 0
  }
}

/** Delivers and logs what listeners threw (a bug: the frame still reached the others). */
export const deliverLogged = (hub: FrameHub, projectId: string, frames: ReadonlyArray<EncodedFrame>) =>
  Effect.suspend(() => {
    const thrown = hub.deliver(projectId, frames)
    return thrown.length === 0
      ? Effect.void
      : Effect.logError("a frame listener threw", thrown[0]).pipe(Effect.annotateLogs({ projectId }))
  })
