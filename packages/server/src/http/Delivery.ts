/**
 * Sending a command to a project's entity through the cluster client: the request's correlation
 * id goes with it, and delivery failures (mailbox full, persistence, a timeout) become 503
 * ServiceUnavailable — the caller retries, with its idempotency key.
 */
import { ServiceUnavailable } from "@devteam/domain/Errors"
import * as Correlation from "@devteam/runtime/Correlation"
import { AlreadyProcessingMessage, MailboxFull, PersistenceError } from "@effect/cluster/ClusterError"
import { Duration, Effect } from "effect"

/** Control commands and task-list reads. */
export const COMMAND_TIMEOUT = Duration.seconds(30)
/** Single steps (`/prep`, `/implement`, `/verify`) run a tool and git: minutes. */
export const STEP_TIMEOUT = Duration.minutes(15)

type DeliveryError = MailboxFull | AlreadyProcessingMessage | PersistenceError

const isDeliveryError = (error: unknown): error is DeliveryError =>
  error instanceof MailboxFull || error instanceof AlreadyProcessingMessage || error instanceof PersistenceError

/** Runs `send(correlationId)`, mapping delivery failures and timeouts to 503. */
export const deliver = <A, E, R>(
  send: (correlationId: string) => Effect.Effect<A, E | DeliveryError, R>,
  timeout: Duration.DurationInput = COMMAND_TIMEOUT
): Effect.Effect<A, E | ServiceUnavailable, R> =>
  Effect.flatMap(Correlation.CurrentCorrelationId, (correlationId) =>
    send(correlationId).pipe(
      Effect.catchAll((error): Effect.Effect<never, E | ServiceUnavailable> =>
        isDeliveryError(error)
          ? Effect.fail(
            new ServiceUnavailable({
              message: `the project's runner cannot take the command now (${error._tag}); retry`
            })
          )
          : Effect.fail(error)
      ),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new ServiceUnavailable({ message: "the project's runner did not answer in time; retry" })
      })
    ))
