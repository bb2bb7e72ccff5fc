/**
 * A bound on graceful shutdown. On SIGTERM/SIGINT the runtime interrupts the main fiber: the
 * gateway stops listening, running steps are interrupted (resumably: the journal still shows them
 * running, so the next activation re-runs them), their output is flushed, the cluster releases its
 * shards, and the process exits 0. If some release hangs, the process exits 1 after
 * SHUTDOWN_TIMEOUT rather than lingering.
 */
import { Config, Duration, Effect } from "effect"

export const ShutdownTimeoutConfig = Config.duration("SHUTDOWN_TIMEOUT").pipe(
  Config.withDefault(Duration.seconds(30)),
  Config.validate({
    message: "SHUTDOWN_TIMEOUT must be longer than 0 (e.g. \"30 seconds\")",
    validation: (d) => Duration.toMillis(d) > 0
  }),
  Config.withDescription("bound on a graceful shutdown")
)

/** Arms the bound: after the first SIGTERM/SIGINT, exit 1 if still alive after SHUTDOWN_TIMEOUT. */
export const bound = Effect.flatMap(ShutdownTimeoutConfig, (timeout) =>
  Effect.sync(() => {
    const arm = (signal: string) => () => {
      setTimeout(() => {
        process.stderr.write(
          `${
            JSON.stringify({ message: `shutdown on ${signal} exceeded SHUTDOWN_TIMEOUT; exiting`, logLevel: "ERROR" })
          }\n`
        )
        process.exit(1)
      }, Duration.toMillis(timeout)).unref()
    }
    process.once("SIGTERM", arm("SIGTERM"))
    process.once("SIGINT", arm("SIGINT"))
  }))
