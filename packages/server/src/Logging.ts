/**
 * LOG_LEVEL and LOG_FORMAT (`pretty` on a TTY, `json` otherwise). Every line carries the fiber's
 * annotations (correlationId, projectId, executionId).
 */
import { Config, Effect, Layer, Logger, LogLevel } from "effect"

const levels = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
} as const

const defaults = { level: "info" as const, format: process.stdout.isTTY ? "pretty" as const : "json" as const }

export const LoggingConfig = Config.all({
  level: Config.literal("trace", "debug", "info", "warn", "error", "none")("LOG_LEVEL").pipe(
    Config.withDefault(defaults.level)
  ),
  format: Config.literal("pretty", "json", "logfmt")("LOG_FORMAT").pipe(
    Config.withDefault(defaults.format)
  )
})

/**
 * The configured logger. An invalid LOG_LEVEL or LOG_FORMAT falls back to the defaults here, so
 * that start-up validation (StartupConfig) can still report it.
 */
export const layer = Layer.unwrapEffect(
  Effect.map(Effect.orElseSucceed(LoggingConfig, () => defaults), ({ format, level }) =>
    Layer.merge(
      format === "json" ? Logger.json : format === "logfmt" ? Logger.logFmt : Logger.pretty,
      Logger.minimumLogLevel(levels[level])
    ))
)
