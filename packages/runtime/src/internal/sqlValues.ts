/**
 * Decoding of database-native values: both backends (pg and PGlite) return `timestamptz` as `Date`,
 * `int8`/`count(*)` as strings, `jsonb` already parsed. These schemas turn them into the API's
 * shapes (ISO strings, numbers) so row schemas read the same on both.
 */
import { Timestamp } from "@devteam/domain/Ids"
import { Schema } from "effect"

/** `timestamptz` (a `Date`, or a string when a driver leaves it unparsed) → ISO-8601 UTC string. */
export const DbTimestamp = Schema.transform(Schema.Union(Schema.DateFromSelf, Schema.String), Timestamp, {
  strict: true,
  decode: (value) => (typeof value === "string" ? new Date(value) : value).toISOString(),
  encode: (value) => value
})

/** `int8` (a string on pg), `int4` (a number) or a bigint → number. */
export const DbNumber = Schema.transform(
  Schema.Union(Schema.Number, Schema.String, Schema.BigIntFromSelf),
  Schema.Number,
  {
    strict: true,
    decode: (value) => Number(value),
    encode: (value) => value
  }
)

/** A JSON value for a `jsonb` parameter: passed as text so both drivers hand it to Postgres verbatim. */
export const jsonParam = (value: unknown): string => JSON.stringify(value)

/** The Postgres error code carried by a driver error (`23505` for a unique violation), if any. */
export const pgErrorCode = (cause: unknown): string | undefined => {
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string") {
    return cause.code
  }
  return undefined
}

/**
 * Whether `error` (an `SqlError` or any value with a `cause`) is a Postgres unique violation, of
 * `constraint` when given (both drivers report the constraint's name; if one did not, any unique
 * violation counts).
 */
export const isUniqueViolation = (error: { readonly cause?: unknown }, constraint?: string): boolean => {
  if (pgErrorCode(error.cause) !== "23505") return false
  if (constraint === undefined) return true
  const cause = error.cause
  const reported = typeof cause === "object" && cause !== null && "constraint" in cause ? cause.constraint : undefined
  return typeof reported !== "string" || reported === constraint
}
