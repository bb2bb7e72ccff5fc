/**
 * Every setting the process reads, checked together before any I/O (no database, socket, Docker
 * engine or git is touched first). A bad value stops start-up with every problem listed at once,
 * each naming its variable: `SANDBOX_CPUS: Expected a number value but received "abc"`.
 */
import * as Cluster from "@devteam/runner/Cluster"
import { ClusterConfig } from "@devteam/runner/ClusterConfig"
import { ExecutionQueueConfig, PerCustomerConfig } from "@devteam/runner/ExecutionQueue"
import { ModelEnvConfig, PipelineConfig } from "@devteam/runner/PipelineStepRunner"
import { ProjectLimitsConfig } from "@devteam/runner/ProjectLimits"
import { StallTimeoutConfig } from "@devteam/runner/StallWatchdog"
import { WakeupConfig } from "@devteam/runner/Wakeup"
import { WorkspaceJanitorConfig } from "@devteam/runner/WorkspaceJanitor"
import { AiderConfig } from "@devteam/runtime/AiderTool"
import { ClaudeCodeConfig } from "@devteam/runtime/ClaudeCodeTool"
import { DatabaseConfig } from "@devteam/runtime/Database"
import { EgressPolicyConfig } from "@devteam/runtime/EgressPolicy"
import { RedisConfig } from "@devteam/runtime/EventBusRedis"
import { CredentialsConfig } from "@devteam/runtime/GitCredentials"
import { IdempotencyConfig } from "@devteam/runtime/IdempotencyStore"
import { OutboundConfig } from "@devteam/runtime/OutboundPolicy"
import { SandboxConfig } from "@devteam/runtime/Sandbox"
import { SandboxPolicyConfig } from "@devteam/runtime/SandboxPolicy"
import { ScriptConfig } from "@devteam/runtime/ScriptTool"
import { TaskListCacheConfig, TaskListMaxTasksConfig } from "@devteam/runtime/TaskListCache"
import { VerifierConfig } from "@devteam/runtime/Verifier"
import { WorkspaceConfig } from "@devteam/runtime/Workspace"
import { Config, ConfigError, Data, Effect, Either } from "effect"
import { TokenRulesConfig } from "./Authentication.js"
import { HealthConfig } from "./HealthCheck.js"
import { BrowserGuardConfig } from "./http/BrowserGuardMiddleware.js"
import { CustomerLimitsConfig } from "./http/CustomerLimits.js"
import { ResourceCaps } from "./http/Projects.js"
import { HttpTimeoutsConfig } from "./HttpTimeouts.js"
import { LoggingConfig } from "./Logging.js"
import { MainRole, StepDriverConfig } from "./Main.js"
import { ServerConfig } from "./ServerConfig.js"
import { ShutdownTimeoutConfig } from "./Shutdown.js"
import { WsConfig } from "./ws/WsGateway.js"

/** What every role reads (migrate: only these). */
const common: ReadonlyArray<Config.Config<unknown>> = [LoggingConfig, DatabaseConfig, ShutdownTimeoutConfig]

/** What the gateway and the runner read besides (their layers read them again, then valid). */
const service: ReadonlyArray<Config.Config<unknown>> = [
  ServerConfig,
  ResourceCaps,
  RedisConfig,
  IdempotencyConfig,
  WsConfig,
  ClusterConfig,
  ExecutionQueueConfig,
  PerCustomerConfig,
  PipelineConfig,
  ModelEnvConfig,
  WakeupConfig,
  StallTimeoutConfig,
  WorkspaceJanitorConfig,
  StepDriverConfig,
  WorkspaceConfig,
  CredentialsConfig,
  SandboxConfig,
  SandboxPolicyConfig,
  EgressPolicyConfig,
  VerifierConfig,
  ScriptConfig,
  AiderConfig,
  ClaudeCodeConfig,
  BrowserGuardConfig,
  TokenRulesConfig,
  TaskListCacheConfig,
  TaskListMaxTasksConfig,
  ProjectLimitsConfig,
  OutboundConfig,
  HttpTimeoutsConfig,
  HealthConfig,
  CustomerLimitsConfig
]

/** One readable line per problem (`VARIABLE: message`), duplicates dropped. */
export const problems = (error: ConfigError.ConfigError): ReadonlyArray<string> => {
  const lines = new Set<string>()
  const walk = (e: ConfigError.ConfigError): void => {
    switch (e._op) {
      case "And":
      case "Or":
        walk(e.left)
        walk(e.right)
        return
      case "InvalidData":
      case "MissingData":
      case "SourceUnavailable":
      case "Unsupported": {
        const name = e.path.join("_")
        lines.add(name === "" || e.message.startsWith(`${name}`) ? e.message : `${name}: ${e.message}`)
        return
      }
    }
  }
  walk(error)
  return [...lines]
}

export class InvalidConfiguration extends Data.TaggedError("InvalidConfiguration")<{
  readonly problems: ReadonlyArray<string>
  readonly message: string
}> {
  static of(problems: ReadonlyArray<string>) {
    const count = `${problems.length} problem${problems.length === 1 ? "" : "s"}`
    return new InvalidConfiguration({ problems, message: `invalid configuration (${count}): ${problems.join("; ")}` })
  }
}

/** Reads every setting of the process's role; fails with all problems at once. */
export const validate = Effect.gen(function*() {
  const role = yield* Effect.either(MainRole)
  const configs = Either.isRight(role) && role.right === "migrate" ? common : [...common, ...service]
  const settings = yield* Effect.either(Effect.asVoid(Config.all([MainRole, ...configs])))
  // the processes' topology: ROLE=runner or gateway need a shared database
  const topology = yield* Effect.either(
    Effect.flatMap(
      Config.all([MainRole, DatabaseConfig]),
      ([role, database]) => role === "migrate" ? Effect.void : Cluster.checkTopology(role, database.url)
    )
  )
  const found = [settings, topology].flatMap((r) => Either.isLeft(r) ? problems(r.left) : [])
  if (found.length > 0) return yield* Effect.fail(InvalidConfiguration.of([...new Set(found)]))
}).pipe(Effect.withSpan("StartupConfig.validate"))
