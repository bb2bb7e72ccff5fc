/**
 * The service's entry point (`npm start`, and every process of a deployment). ROLE selects what
 * the process runs: all (default), gateway, runner, or migrate (run migrations and exit).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Layer, Option } from "effect"
import * as Logging from "./Logging.js"
import * as Main from "./Main.js"
import * as ServerConfig from "./ServerConfig.js"
import * as Shutdown from "./Shutdown.js"
import * as StartupConfig from "./StartupConfig.js"
import * as StartupFailure from "./StartupFailure.js"

const main = Effect.gen(function*() {
  yield* StartupConfig.validate
  yield* Shutdown.bound
  const role = yield* Main.MainRole
  if (role === "migrate") {
    yield* Effect.logInfo("running migrations")
    return yield* Layer.build(Main.migrate).pipe(Effect.scoped)
  }
  const config = yield* ServerConfig.load
  if (role !== "runner" && Option.isNone(config.jwtSecret)) {
    yield* Effect.logWarning(
      "AUTH_JWT_SECRET is unset: local-only mode — no authentication, every caller is an admin, loopback only"
    )
  }
  yield* Effect.logInfo(
    role === "runner"
      ? `DevTeam Runner starting (role=runner)`
      : `DevTeam Runner starting (role=${config.role}) on http://${config.host}:${config.port}`
  )
  return yield* Layer.launch(Main.layer(config))
})

/** A start-up failure in one readable line (invalid configuration lists every problem). */
const reportFailure = (cause: Cause.Cause<unknown>) =>
  Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError(StartupFailure.message(cause))

main.pipe(
  Effect.tapErrorCause(reportFailure),
  Effect.provide(Logging.layer),
  // nothing exports spans: each one (HTTP request, cluster message, SQL statement) was only cost
  Effect.provide(Layer.setTracerEnabled(false)),
  NodeRuntime.runMain({ disablePrettyLogger: true, disableErrorReporting: true })
)
