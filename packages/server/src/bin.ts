/**
 * The service's entry point: `npm start`. ROLE=all (default) runs the gateway and the runner in
 * one process; ROLE=gateway runs the HTTP/WS edge only; ROLE=runner hosts entities only.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import * as Gateway from "./Gateway.js"
import * as Logging from "./Logging.js"
import * as ServerConfig from "./ServerConfig.js"

const main = Effect.gen(function*() {
  const config = yield* ServerConfig.load
  if (Option.isNone(config.jwtSecret)) {
    yield* Effect.logWarning(
      "AUTH_JWT_SECRET is unset: local-only mode — no authentication, every caller is an admin, loopback only"
    )
  }
  yield* Effect.logInfo(`DevTeam Runner starting (role=${config.role}) on http://${config.host}:${config.port}`)
  return yield* Layer.launch(Gateway.layer(config))
})

main.pipe(Effect.provide(Logging.layer), NodeRuntime.runMain({ disablePrettyLogger: true }))
