/**
 * LOG_LEVEL and LOG_FORMAT (`pretty` on a TTY, `json` otherwise). Every line carries the fiber's
 * annotations (correlationId, projectId, executionId).
 *
 * `pretty` is one line per event (`12:01:02.345 INFO  step started step=IMPLEMENT taskId=1.1.1 …`),
 * written here because Effect's own pretty logger spends a line on every annotation (5–9 lines per
 * event); a failure's cause is kept on the same line (its first line).
 */
import { Cause, Config, Effect, HashMap, Layer, List, Logger, LogLevel } from "effect"

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

const text = (value: unknown): string => {
  if (typeof value === "string") return value
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** `key=value`, quoted when the value has spaces, quotes or `=`; never a line break. */
const field = (key: string, value: unknown): string => {
  const rendered = text(value).replace(/\r?\n/g, "⏎ ")
  return `${key}=${/[\s"=]/.test(rendered) ? JSON.stringify(rendered) : rendered}`
}

const time = (date: Date): string => date.toISOString().slice(11, 23)

/** One event, one line: time, level, message, then the annotations, spans and cause as fields. */
export const oneLine = Logger.make<unknown, string>(({ annotations, cause, date, logLevel, message, spans }) => {
  const messages = Array.isArray(message) ? message : [message]
  const parts = [time(date), logLevel.label.padEnd(5), messages.map(text).join(" ").replace(/\r?\n/g, "⏎ ")]
  for (const [key, value] of HashMap.toEntries(annotations)) parts.push(field(key, value))
  for (const span of List.toArray(spans)) parts.push(field(span.label, `${date.getTime() - span.startTime}ms`))
  if (!Cause.isEmpty(cause)) parts.push(field("cause", Cause.pretty(cause).split("\n")[0] ?? ""))
  return parts.join(" ")
})

/** The line format of LOG_FORMAT. */
export const formatter = (format: "pretty" | "json" | "logfmt"): Logger.Logger<unknown, string> =>
  format === "json" ? Logger.jsonLogger : format === "logfmt" ? Logger.logfmtLogger : oneLine

/**
 * The configured logger. An invalid LOG_LEVEL or LOG_FORMAT falls back to the defaults here, so
 * that start-up validation (StartupConfig) can still report it.
 */
export const layer = Layer.unwrapEffect(
  Effect.map(Effect.orElseSucceed(LoggingConfig, () => defaults), ({ format, level }) =>
    Layer.merge(
      Logger.replace(Logger.defaultLogger, Logger.withConsoleLog(formatter(format))),
      Logger.minimumLogLevel(levels[level])
    ))
)
