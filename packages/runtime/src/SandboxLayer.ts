/**
 * The Sandbox service chosen by configuration: `SANDBOX=docker|local`, or — when unset — docker
 * if a Docker engine answers at the configured address, local otherwise. (Kept apart from
 * `Sandbox.ts` so that the port does not import its adapters.)
 */
import type { ConfigError } from "effect"
import { Effect, Layer, Option } from "effect"
import * as DockerSandbox from "./DockerSandbox.js"
import * as LocalSandbox from "./LocalSandbox.js"
import type { Redactor } from "./Redaction.js"
import type { SandboxKind, SandboxSettings } from "./Sandbox.js"
import { Sandbox, SandboxConfig } from "./Sandbox.js"

/** The adapter `settings` select (pinging the engine when `SANDBOX` is unset). */
export const resolveKind = (settings: SandboxSettings): Effect.Effect<SandboxKind> =>
  Option.match(settings.kind, {
    onSome: Effect.succeed,
    onNone: () => DockerSandbox.engineAnswers(settings).pipe(Effect.map((up): SandboxKind => up ? "docker" : "local"))
  })

export const layerWith = (settings: SandboxSettings): Layer.Layer<Sandbox, never, Redactor> =>
  Layer.scoped(
    Sandbox,
    Effect.gen(function*() {
      const kind = yield* resolveKind(settings)
      yield* Effect.logInfo(`sandbox: ${kind}`)
      return kind === "docker" ? yield* DockerSandbox.makeScoped(settings) : yield* LocalSandbox.make
    })
  )

/** The sandbox from `SandboxConfig` (environment). */
export const layer: Layer.Layer<Sandbox, ConfigError.ConfigError, Redactor> = Layer.unwrapEffect(
  Effect.map(SandboxConfig, layerWith)
)
