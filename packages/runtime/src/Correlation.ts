/**
 * The correlation id of the request (or command) being served. Set by the gateway from
 * `x-correlation-id` (or generated), carried in every entity command and journal entry, and
 * attached to every log line as an annotation.
 */
import { Context, Effect } from "effect"
import { randomUUID } from "node:crypto"

export class CurrentCorrelationId extends Context.Reference<CurrentCorrelationId>()(
  "@devteam/runtime/CurrentCorrelationId",
  { defaultValue: () => "none" }
) {}

/**
 * Who caused the command being served: the caller's token `sub` (`local` without authentication),
 * carried with entity commands and recorded on the journal entries they cause. Undefined for the
 * runner's own work (pipeline steps).
 */
export class CurrentPrincipal extends Context.Reference<CurrentPrincipal>()(
  "@devteam/runtime/CurrentPrincipal",
  { defaultValue: (): string | undefined => undefined }
) {}

const valid = /^[A-Za-z0-9._:-]{1,128}$/

/** The given id when it is a well-formed correlation id, else a new one. */
export const fromHeader = (header: string | undefined): string =>
  header !== undefined && valid.test(header) ? header : randomUUID()

/** Runs `effect` with `id` as the current correlation id and as a log annotation. */
export const withCorrelationId = (id: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(Effect.provideService(CurrentCorrelationId, id), Effect.annotateLogs("correlationId", id))
