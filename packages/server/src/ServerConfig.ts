/**
 * The gateway's configuration, validated at start-up with one message per problem.
 */
import { Config, ConfigError, Effect, Either, Option, Redacted } from "effect"

export const Role = Config.literal("all", "gateway", "runner")("ROLE").pipe(
  Config.withDefault("all" as const),
  Config.withDescription("all (gateway + runner in one process), gateway, or runner")
)
export type Role = "all" | "gateway" | "runner"

export interface ServerConfig {
  readonly role: Role
  readonly host: string
  readonly port: number
  /** Unset: local-only mode (no auth, loopback only). */
  readonly jwtSecret: Option.Option<Redacted.Redacted<string>>
  readonly dataDir: string
}

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host)

export const ServerConfig: Config.Config<ServerConfig> = Config.all({
  role: Role,
  host: Config.string("DEVTEAM_RUNNER_HOST").pipe(
    Config.withDefault("127.0.0.1"),
    Config.withDescription("address the gateway listens on")
  ),
  port: Config.port("DEVTEAM_RUNNER_PORT").pipe(Config.withDefault(8080), Config.withDescription("gateway port")),
  // empty counts as unset, like DATABASE_URL and REDIS_URL (an `.env` line `AUTH_JWT_SECRET=`)
  jwtSecret: Config.option(Config.redacted("AUTH_JWT_SECRET")).pipe(
    Config.map(Option.filter((secret) => Redacted.value(secret).length > 0)),
    Config.validate({
      message: "AUTH_JWT_SECRET must be at least 32 characters",
      validation: Option.match({ onNone: () => true, onSome: (secret) => Redacted.value(secret).length >= 32 })
    }),
    Config.withDescription("HS256 secret for bearer JWTs; unset or empty → local-only mode")
  ),
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./.data"))
}).pipe(
  Config.mapOrFail((config) =>
    Option.isNone(config.jwtSecret) && !isLoopback(config.host)
      ? Either.left(
        ConfigError.InvalidData(
          ["DEVTEAM_RUNNER_HOST"],
          `refusing to listen on ${config.host} without AUTH_JWT_SECRET: local-only mode binds to a loopback address only ` +
            "(set AUTH_JWT_SECRET, or DEVTEAM_RUNNER_HOST=127.0.0.1)"
        )
      )
      : Either.right(config)
  )
)

/** Loads the configuration or fails with every problem listed. */
export const load = Effect.gen(function*() {
  return yield* ServerConfig
}).pipe(Effect.withSpan("ServerConfig.load"))
