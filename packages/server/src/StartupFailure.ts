/**
 * A start-up failure in one readable line for the entry point: the error and its causes, innermost
 * last ("Failed to execute statement: duplicate key …"), each said once.
 */
import { Cause, Option, Predicate } from "effect"

/** An error and its causes, innermost last; a cause that repeats its wrapper's message is not repeated. */
export const describe = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const text = Predicate.hasProperty(current, "message") && typeof current.message === "string" &&
        current.message !== ""
      ? current.message
      : String(current)
    // wrappers often copy their cause's message (SqlError around the Error it caught)
    if (!parts.some((part) => part.includes(text))) parts.push(text)
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return parts.join(": ")
}

/** The line logged when the process cannot start (invalid configuration lists every problem). */
export const message = (cause: Cause.Cause<unknown>): string =>
  `cannot start: ${Option.match(Cause.failureOption(cause), { onNone: () => Cause.pretty(cause), onSome: describe })}`
