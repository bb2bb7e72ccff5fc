/**
 * Idempotency for every state-changing route, backed by the durable `IdempotencyStore`.
 *
 * Keys come from the `Idempotency-Key` header, else the body's `idempotencyKey` (the seeds' field);
 * they are scoped per route, per caller and per project. The route's access check (`authorize`)
 * runs before anything is looked up, so a stored response is never replayed to a caller who may
 * not make the request. The first request with a key runs; its successful
 * response (status + encoded body) is stored, and a repeat with the same request gets it back with
 * `idempotent-replayed: true` without running again. The same key with a different request → 422
 * IdempotencyKeyMismatch. A concurrent duplicate waits briefly for the winner and replays it, or
 * gets 409 IdempotencyKeyInProgress. A request that fails (any error status) changes nothing (commands are refused
 * before their events are committed), so its key is released and a retry runs afresh.
 */
import * as Auth from "@devteam/domain/Auth"
import { hashRequest, IdempotencyStore } from "@devteam/runtime/IdempotencyStore"
import { HttpServerResponse } from "@effect/platform"
import { Duration, Effect, Exit, Schema } from "effect"
import { errorResponse } from "./ErrorMiddleware.js"

export const REPLAYED_HEADER = "idempotent-replayed"

/** How long a concurrent duplicate waits for the winner before answering 409. */
export const WAIT_FOR_WINNER = Duration.seconds(5)
const POLL = Duration.millis(15)

/** The header's key, else the body's. */
export const keyOf = (header: string | undefined, body: string | undefined): string | undefined => header ?? body

export interface IdempotentOptions<A, I, E2, R2> {
  /** `METHOD /path-template`: part of the key's scope. */
  readonly route: string
  /**
   * The route's authorisation, run first — also before a replay; yields the project the request
   * is about (part of the key's scope), or undefined for a request about no project.
   */
  readonly authorize: Effect.Effect<string | undefined, E2, R2>
  readonly key: string | undefined
  /** What identifies the request (path parameters and payload): hashed to detect a mismatch. */
  readonly request: unknown
  /** Encodes the success value into the stored body. */
  readonly success: Schema.Schema<A, I>
  /** The success status of the route. */
  readonly status: number
}

export const idempotent = <A, I, E2, R2>(options: IdempotentOptions<A, I, E2, R2>) =>
<E, R>(
  effect: Effect.Effect<A | HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<
  A | HttpServerResponse.HttpServerResponse,
  E | E2,
  R | R2 | IdempotencyStore | Auth.CurrentPrincipal
> =>
  Effect.gen(function*() {
    const key = options.key
    if (key === undefined) return yield* effect
    const project = yield* options.authorize
    const store = yield* IdempotencyStore
    const caller = yield* Auth.CurrentPrincipal
    const id = { scope: JSON.stringify([options.route, caller.userId, project ?? null]), key }
    const requestHash = hashRequest({ route: options.route, request: options.request })
    const encode = Schema.encode(options.success)
    const deadline = Date.now() + Duration.toMillis(WAIT_FOR_WINNER)
    while (true) {
      const begin = yield* store.begin({ ...id, requestHash })
      switch (begin._tag) {
        case "Started":
          return yield* Effect.onExit(
            effect,
            Exit.match({
              onFailure: () => store.release(id),
              // an error answered as a response (an undeclared domain error): nothing to keep
              onSuccess: (value) =>
                HttpServerResponse.isServerResponse(value) ? store.release(id) : encode(value).pipe(
                  Effect.flatMap((body) => store.complete({ ...id, status: options.status, body })),
                  Effect.catchAll(() => store.release(id))
                )
            })
          )
        case "Replay":
          return HttpServerResponse.setHeader(
            HttpServerResponse.unsafeJson(begin.body, { status: begin.status }),
            REPLAYED_HEADER,
            "true"
          )
        case "Mismatch":
          return errorResponse(
            422,
            "IdempotencyKeyMismatch",
            "this Idempotency-Key was already used with a different request; use a new key"
          )
        case "InProgress":
          if (Date.now() >= deadline) {
            return errorResponse(
              409,
              "IdempotencyKeyInProgress",
              "a request with this Idempotency-Key is still being processed; retry shortly"
            )
          }
          yield* Effect.sleep(POLL)
      }
    }
  })
