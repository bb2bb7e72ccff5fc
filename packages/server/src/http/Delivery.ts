/**
 * Sending a command to a project's entity through the cluster client: the request's correlation
 * id goes with it, and delivery failures (mailbox full, persistence, a timeout) become 503
 * ServiceUnavailable — the caller retries, with its idempotency key.
 */
import * as Auth from "@devteam/domain/Auth"
import { ServiceUnavailable } from "@devteam/domain/Errors"
import * as Correlation from "@devteam/runtime/Correlation"
import { AlreadyProcessingMessage, MailboxFull, PersistenceError } from "@effect/cluster/ClusterError"
import { Duration, Effect, Option } from "effect"

/** Control commands and task-list reads. */
export const COMMAND_TIMEOUT = Duration.seconds(30)
/** Single steps (`/prep`, `/implement`, `/verify`) run a tool and git: minutes. */
export const STEP_TIMEOUT = Duration.minutes(15)

type DeliveryError = MailboxFull | AlreadyProcessingMessage | PersistenceError

const isDeliveryError = (error: unknown): error is DeliveryError =>
  error instanceof MailboxFull || error instanceof AlreadyProcessingMessage || error instanceof PersistenceError

/** What every entity command carries: the request's correlation id and who sent it (recorded in the journal). */
export interface CommandMeta {
  readonly correlationId: string
  readonly principal?: string
}

/** Who a journal entry records: the token's subject, or `local` without authentication. */
export const principalName = (caller: Auth.Principal): string => caller.local ? "local" : caller.userId

/** The 503 of a command its runner did not answer in time. */
export const notAnswered = () =>
  new ServiceUnavailable({ message: "the project's runner did not answer in time; retry" })

/**
 * Runs `send(meta)`, mapping delivery failures and timeouts to 503. `timeout: null`: the caller
 * bounds the wait itself (one race per command instead of two: each forks two fibers).
 */
export const deliver = <A, E, R>(
  send: (meta: CommandMeta) => Effect.Effect<A, E | DeliveryError, R>,
  timeout: Duration.DurationInput | null = COMMAND_TIMEOUT
): Effect.Effect<A, E | ServiceUnavailable, R> =>
  Effect.flatMap(
    Effect.all([Correlation.CurrentCorrelationId, Effect.serviceOption(Auth.CurrentPrincipal)]),
    ([correlationId, caller]) =>
      send(
        Option.isSome(caller) ? { correlationId, principal: principalName(caller.value) } : { correlationId }
      ).pipe(
        Effect.catchAll((error): Effect.Effect<never, E | ServiceUnavailable> =>
          isDeliveryError(error)
            ? Effect.fail(
              new ServiceUnavailable({
                message: `the project's runner cannot take the command now (${error._tag}); retry`
              })
            )
            : Effect.fail(error)
        ),
        (sent) => timeout === null ? sent : Effect.timeoutFail(sent, { duration: timeout, onTimeout: notAnswered })
      )
  )
