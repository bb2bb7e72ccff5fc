/**
 * One entry point for every role, selected by ROLE:
 *
 * - `all` (default): gateway + runner in one process; embedded PGlite unless DATABASE_URL is set.
 * - `gateway`: the HTTP/WS edge and a cluster client (needs DATABASE_URL).
 * - `runner`: hosts `Project` entities (needs DATABASE_URL).
 * - `migrate`: runs every module's migrations and exits (deployments run it once before the rest).
 */
import * as Cluster from "@devteam/runner/Cluster"
import * as PipelineSingleSteps from "@devteam/runner/PipelineSingleSteps"
import * as PipelineStepRunner from "@devteam/runner/PipelineStepRunner"
import * as PlaceholderStepRunner from "@devteam/runner/PlaceholderStepRunner"
import * as Runner from "@devteam/runner/Runner"
import * as Database from "@devteam/runtime/Database"
import { EventBus } from "@devteam/runtime/EventBus"
import * as ProcessLauncher from "@devteam/runtime/ProcessLauncher"
import * as Storage from "@devteam/runtime/Storage"
import { Config, Duration, Effect, Layer, Option } from "effect"
import * as Gateway from "./Gateway.js"
import type * as ServerConfig from "./ServerConfig.js"

export const MainRole = Config.literal("all", "gateway", "runner", "migrate")("ROLE").pipe(
  Config.withDefault("all" as const)
)

/**
 * The step driver: the real pipeline. `DEVTEAM_STEP_DRIVER=placeholder` swaps in the placeholder
 * that only journals (PLACEHOLDER_TASKS synthetic tasks, PLACEHOLDER_STEP_MS per step) — for the
 * actor and failover tests, which exercise the cluster and not git/sandboxes.
 */
const StepDriver = Config.literal("pipeline", "placeholder")("DEVTEAM_STEP_DRIVER").pipe(
  Config.withDefault("pipeline" as const)
)

const PlaceholderConfig = Config.all({
  tasks: Config.integer("PLACEHOLDER_TASKS").pipe(Config.withDefault(3)),
  stepMillis: Config.integer("PLACEHOLDER_STEP_MS").pipe(Config.withDefault(200))
})

/** The step driver's settings (checked at start-up with the rest). */
export const StepDriverConfig = Config.all([StepDriver, PlaceholderConfig])

const placeholder = Layer.unwrapEffect(
  Effect.map(
    PlaceholderConfig,
    ({ stepMillis, tasks }) => PlaceholderStepRunner.layer({ tasks, stepDuration: Duration.millis(stepMillis) })
  )
)

// One set of ports (sandbox, tools, verifier) for the pipeline and the single steps: a second
// docker sandbox instance would run a second sweeper.
const ports = PipelineStepRunner.portsLayer

const steps = Layer.unwrapEffect(
  Effect.map(
    StepDriver,
    (driver) => driver === "placeholder" ? placeholder : PipelineStepRunner.layer.pipe(Layer.provide(ports))
  )
)
const singleSteps = PipelineSingleSteps.layer.pipe(Layer.provide(ports))

/** Logged once the role's layers are up; the local cluster launcher waits for it. */
const ready = (role: string) => Layer.effectDiscard(Effect.logInfo(`${role} ready`))

export const layer = (config: ServerConfig.ServerConfig) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const database = yield* Database.DatabaseConfig
      const embedded = Option.isNone(database.url)
      yield* Cluster.checkTopology(config.role, database.url)
      const cluster = Cluster.layer(config.role, embedded)
      const runner = Runner.layerWith(steps, singleSteps)
      const role = config.role === "runner"
        ? Layer.mergeAll(runner, ready("runner"))
        : config.role === "gateway"
        ? Layer.mergeAll(Gateway.layer(config), ready("gateway"))
        : Layer.mergeAll(Gateway.layer(config), runner, ready("runner"))
      return role.pipe(
        Layer.provideMerge(cluster),
        Layer.provideMerge(Storage.layer),
        // git (the gateway's repository probes, the runner's work trees) starts from the launcher's
        // small helper process, not from this one
        Layer.provideMerge(ProcessLauncher.layerHelper)
      )
    })
  )

/** ROLE=migrate: building the storage layer runs every module's migrations (no event bus needed). */
export const migrate = Layer.mergeAll(Storage.layerWith(Database.layer, EventBus.layerNoop), ready("migrate"))
