/**
 * A pipeline step's egress window: the sandbox's proxy allows the step's allow-list while the
 * step's sandbox work runs, every refused connection is a warning in the step's log (the tool sees
 * the proxy's 403 itself), and the connections' summary goes into the step's journal event.
 */
import type { EgressSummary, HostPort } from "@devteam/domain/Egress"
import { formatHostPort } from "@devteam/domain/Egress"
import * as EgressPolicy from "@devteam/runtime/EgressPolicy"
import type { SandboxHandle } from "@devteam/runtime/Sandbox"
import { Effect } from "effect"
import type * as LogBatcher from "./LogBatcher.js"

/** Where a window's warnings and summary go: the execution's journaled log, or the service log. */
export type StepLog = Pick<LogBatcher.LogBatcher, "log">

/** The service's own log, for steps that run outside an execution (the single-step routes). */
export const serviceLog: StepLog = {
  log: (level, message) =>
    level === "error"
      ? Effect.logError(message)
      : level === "warn"
      ? Effect.logWarning(message)
      : level === "info"
      ? Effect.logInfo(message)
      : Effect.logDebug(message)
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`

/** The allow-list as a log shows it. */
export const describeAllowList = (allow: ReadonlyArray<HostPort>): string =>
  allow.length === 0 ? "nothing" : allow.map(formatHostPort).join(", ")

/** One line for the step's log. */
export const summaryLine = (summary: EgressSummary): string => {
  const refused = summary.targets.filter((t) => !t.allowed).map((t) => t.target)
  return `${summary.step} egress: ${summary.connections} connection(s), ${summary.denied} refused${
    refused.length > 0 ? ` (${refused.join(", ")})` : ""
  }; ${kib(summary.bytesUp)} up, ${kib(summary.bytesDown)} down${
    summary.enforced ? "" : " (local sandbox: not enforced)"
  }`
}

/**
 * The project's additions for `step` that EGRESS_PROJECT_ALLOW permits (checked when they were
 * set; checked again here in case the operator's list has shrunk since): the others are left out
 * with a warning in the step's log.
 */
export const projectAdditions = (
  step: string,
  entries: ReadonlyArray<string> | undefined,
  settings: EgressPolicy.EgressPolicySettings,
  logs: StepLog
): Effect.Effect<ReadonlyArray<HostPort>> =>
  Effect.gen(function*() {
    const { permitted, refused } = EgressPolicy.projectAdditions(entries, settings)
    if (refused.length > 0) {
      yield* logs.log(
        "warn",
        `${step} egress: the project's ${refused.join(", ")} left out (not on EGRESS_PROJECT_ALLOW)`
      )
    }
    return permitted
  })

/** Runs `effect` inside an egress window of `handle` for `step`; returns its value and the summary. */
export const withEgress = <A, E, R>(
  handle: SandboxHandle,
  step: string,
  allow: ReadonlyArray<HostPort>,
  logs: StepLog,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<{ readonly value: A; readonly egress: EgressSummary }, E, R> =>
  Effect.scoped(
    Effect.gen(function*() {
      const window = yield* handle.egress.open({
        step,
        allow,
        onConnection: (c) =>
          c.allowed
            ? c.error === undefined
              ? Effect.void
              : logs.log("warn", `egress: ${c.target} could not be reached: ${c.error}`)
            : logs.log(
              "warn",
              `egress: refused ${c.target}: not on ${step}'s allow-list (${
                describeAllowList(allow)
              }); allow it with EGRESS_ALLOW_${step}`
            )
      })
      const value = yield* effect
      const egress = yield* window.summary
      if (egress.connections > 0) yield* logs.log(egress.denied > 0 ? "warn" : "info", summaryLine(egress))
      return { value, egress }
    })
  )
