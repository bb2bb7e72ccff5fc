/**
 * The Sandbox service chosen by configuration (`SandboxPolicy.choose`): `SANDBOX=docker|local`,
 * or — when unset — docker if a Docker engine answers at the configured address; otherwise local
 * in local-only mode, and a sandbox that refuses every acquire when authentication is on (pipeline
 * work never falls back to the host silently). The choice is logged at start-up and `health()`
 * says it. (Kept apart from `Sandbox.ts` so that the port does not import its adapters.)
 */
import { SandboxUnavailable } from "@devteam/domain/Errors"
import type { ConfigError } from "effect"
import { Effect, Layer, Option } from "effect"
import * as DockerSandbox from "./DockerSandbox.js"
import * as LocalSandbox from "./LocalSandbox.js"
import type { Redactor } from "./Redaction.js"
import type { SandboxKind, SandboxSettings } from "./Sandbox.js"
import { Sandbox, SandboxConfig } from "./Sandbox.js"
import * as SandboxPolicy from "./SandboxPolicy.js"

/** The adapter `settings` select (pinging the engine when `SANDBOX` is unset), local-only mode. */
export const resolveKind = (settings: SandboxSettings): Effect.Effect<SandboxKind> =>
  Option.match(settings.kind, {
    onSome: Effect.succeed,
    onNone: () => DockerSandbox.engineAnswers(settings).pipe(Effect.map((up): SandboxKind => up ? "docker" : "local"))
  })

/** A sandbox that runs nothing: no engine, authentication on, and the operator did not choose `local`. */
export const refused: Sandbox["Type"] = {
  kind: "docker",
  acquire: () => Effect.fail(new SandboxUnavailable({ message: SandboxPolicy.refusedMessage })),
  sweep: () => Effect.succeed(0),
  health: () =>
    Effect.succeed({ kind: "docker", available: false, isolation: true, message: SandboxPolicy.refusedMessage })
}

export const layerWith = (
  settings: SandboxSettings,
  policy: SandboxPolicy.SandboxPolicy = { sandbox: settings.kind, authOn: false, callerCommands: false }
): Layer.Layer<Sandbox, never, Redactor> =>
  Layer.scoped(
    Sandbox,
    Effect.gen(function*() {
      const engineAnswers = Option.isSome(settings.kind) ? false : yield* DockerSandbox.engineAnswers(settings)
      const choice = SandboxPolicy.choose({ ...policy, sandbox: settings.kind }, engineAnswers)
      if (choice === "refused") {
        yield* Effect.logError(`sandbox: refused — ${SandboxPolicy.refusedMessage}`)
        return refused
      }
      if (choice === "local" && Option.isNone(settings.kind)) {
        yield* Effect.logWarning(`sandbox: local — ${SandboxPolicy.fallbackMessage}`)
      } else {
        yield* Effect.logInfo(`sandbox: ${choice}`)
      }
      return choice === "docker" ? yield* DockerSandbox.makeScoped(settings) : yield* LocalSandbox.make
    })
  )

/** The sandbox from `SandboxConfig` and `SandboxPolicyConfig` (environment). */
export const layer: Layer.Layer<Sandbox, ConfigError.ConfigError, Redactor> = Layer.unwrapEffect(
  Effect.map(
    Effect.all([SandboxConfig, SandboxPolicy.SandboxPolicyConfig]),
    ([settings, policy]) => layerWith(settings, policy)
  )
)
