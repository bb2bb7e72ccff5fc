/**
 * The event bus: the journal publishes every committed append's frames here (after commit), and
 * WebSocket gateways subscribe by project. Frames carry the project's journal `seq`, so a consumer
 * can detect a gap (a frame lost or dropped) and fill it from the journal (`Journal.follow` does).
 *
 * Delivery is best-effort: publishing never fails. A subscriber is a callback, called in publish
 * order with each batch (in process: synchronously, inside `publish`), so it must be cheap; the
 * gateway's feeds hand frames to bounded per-connection outboxes. Adapters: in-process
 * (`EventBus.layerMemory`) and Redis pub/sub (`EventBusRedis`).
 */
import type { ProjectId } from "@devteam/domain/Ids"
import type { EncodedFrame } from "@devteam/domain/WsFrame"
import { Context, Effect, Layer, type Scope } from "effect"
import * as Hub from "./internal/frameHub.js"

export type FrameListener = Hub.FrameListener

export type EventBusKind = "memory" | "redis"

export interface EventBusService {
  readonly kind: EventBusKind
  /** Sends `frames` (one project, ascending seq) to every subscriber of the project, in any process. Never fails. */
  readonly publish: (projectId: ProjectId, frames: ReadonlyArray<EncodedFrame>) => Effect.Effect<void>
  /**
   * Calls `listener` with the project's frames, each batch in publish order. The returned effect
   * completes once the subscription is in place (frames published afterwards are delivered); the
   * subscription ends with the scope.
   */
  readonly subscribe: (projectId: ProjectId, listener: FrameListener) => Effect.Effect<void, never, Scope.Scope>
}

export class EventBus extends Context.Tag("@devteam/runtime/EventBus")<EventBus, EventBusService>() {
  /** In-process bus: one process, no external server. */
  static readonly layerMemory: Layer.Layer<EventBus> = Layer.sync(EventBus, (): EventBusService => {
    const hub = Hub.make()
    return {
      kind: "memory",
      publish: (projectId, frames) => Hub.deliverLogged(hub, projectId, frames),
      subscribe: hub.subscribe
    }
  })

  /** A bus that drops everything (tests, or a consumer that only polls the journal). */
  static readonly layerNoop: Layer.Layer<EventBus> = Layer.succeed(EventBus, {
    kind: "memory",
    publish: () => Effect.void,
    subscribe: () => Effect.void
  })
}
