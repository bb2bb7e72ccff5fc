/**
 * Request-decoding errors (400 HttpApiDecodeError) in one short line per problem instead of
 * Schema's validation tree: `tool: expected one of "aider" | "claude-code" | "script", got "x"`.
 *
 * The HttpApi builder answers a request that does not match its schema with the tree (`message`)
 * and every leaf of it (`issues`): an optional field lists the union member `undefined` it also did
 * not match, a literal union one issue per literal, a refinement quotes the service's regular
 * expression. This middleware rewrites both from the leaves: alternatives of one field merged into
 * one "expected one of", the `undefined` of an optional field dropped, unknown fields named
 * together, patterns described instead of quoted. The body keeps its schema
 * (`{ _tag: "HttpApiDecodeError", issues, message }`), so clients decode it as before.
 */
import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import { Effect, Option, Schema } from "effect"

const patternText = /a string matching the pattern \S+/g

/** `text` without any quoted regular expression. */
export const scrub = (text: string): string => text.replace(patternText, "a string in the expected format")

type Issue = HttpApiDecodeError["issues"][number]

/** `verify.commands[0]`; the whole body (or query, or header set) is `body`. */
export const renderPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0
    ? "body"
    : path.map((key, i) => typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`).join("")

const MAX_ACTUAL = 80
const MAX_PROBLEMS = 6

const shorten = (text: string): string => text.length > MAX_ACTUAL ? `${text.slice(0, MAX_ACTUAL)}…` : text

const typeMismatch = /^Expected ([\s\S]+?), actual ([\s\S]*)$/

const describeType = (expected: string): string => expected.replace(/ \(Encoded side\)/g, "")

const startsWith = (path: ReadonlyArray<PropertyKey>, prefix: ReadonlyArray<PropertyKey>) =>
  prefix.length <= path.length && prefix.every((key, i) => path[i] === key)

const isOptionalAlternative = (issue: Issue) =>
  issue._tag === "Type" && /^Expected undefined, actual /.test(issue.message)

/** The problems of a failed decode, one per field (unknown fields together), each one line. */
export const condense = (issues: ReadonlyArray<Issue>): ReadonlyArray<Issue> => {
  // `undefined` is the other member of an optional field's union: noise whenever the field (or
  // something inside it) has a real problem
  const relevant = issues.filter((issue) =>
    !isOptionalAlternative(issue) ||
    !issues.some((other) => other !== issue && !isOptionalAlternative(other) && startsWith(other.path, issue.path))
  )
  const groups = new Map<string, Array<Issue>>()
  for (const issue of relevant) {
    const key = `${issue._tag === "Unexpected" ? "u" : "f"}:${JSON.stringify(issue.path)}`
    groups.set(key, [...(groups.get(key) ?? []), issue])
  }
  const out: Array<Issue> = []
  for (const group of groups.values()) {
    const first = group[0]
    if (first === undefined) continue
    const path = first.path
    if (first._tag === "Unexpected") {
      out.push({ _tag: "Unexpected", path, message: "unknown field" })
      continue
    }
    if (first._tag === "Missing") {
      out.push({ _tag: "Missing", path, message: "is required" })
      continue
    }
    const mismatches = group.map((issue) => issue._tag === "Type" ? typeMismatch.exec(issue.message) : null)
    if (mismatches.every((m) => m !== null)) {
      const expected = [...new Set(mismatches.map((m) => describeType(m?.[1] ?? "")))]
      const actual = shorten(mismatches[0]?.[2] ?? "")
      out.push({
        _tag: "Type",
        path,
        message: expected.length === 1
          ? `expected ${expected[0]}, got ${actual}`
          : `expected one of ${expected.join(" | ")}, got ${actual}`
      })
      continue
    }
    const messages = [...new Set(group.filter((issue) => !isOptionalAlternative(issue)).map((issue) => issue.message))]
    out.push({
      _tag: first._tag,
      path,
      message: messages.map((m) => scrub(m).replace(/^Expected /, "expected ").replace(/, actual /, ", got ")).join(
        "; "
      )
    })
  }
  return out
}

/** One line: `tool: expected one of …, got "x"; unknown fields: foo, verify.bar`. */
export const summarise = (issues: ReadonlyArray<Issue>): string => {
  const unknown = issues.filter((issue) => issue._tag === "Unexpected").map((issue) => renderPath(issue.path))
  const parts = issues.filter((issue) => issue._tag !== "Unexpected").map((issue) =>
    `${renderPath(issue.path)}: ${issue.message}`
  )
  if (unknown.length > 0) parts.push(`unknown field${unknown.length === 1 ? "" : "s"}: ${unknown.join(", ")}`)
  const shown = parts.slice(0, MAX_PROBLEMS)
  const more = parts.length - shown.length
  return more > 0 ? `${shown.join("; ")}; and ${more} more` : shown.join("; ")
}

/** The body of a decode error, readable. */
export const rewrite = (error: HttpApiDecodeError): HttpApiDecodeError => {
  const issues = condense(error.issues)
  return new HttpApiDecodeError({
    issues,
    message: issues.length === 0 ? scrub(error.message) : summarise(issues)
  })
}

const decodeBody = Schema.decodeUnknownOption(Schema.parseJson(HttpApiDecodeError))
const encodeBody = Schema.encodeSync(HttpApiDecodeError)

export const layer = HttpLayerRouter.middleware((app) =>
  Effect.map(app, (response) => {
    if (response.status !== 400 || response.body._tag !== "Uint8Array") return response
    const text = new TextDecoder().decode(response.body.body)
    if (!text.includes("HttpApiDecodeError")) return response
    return Option.match(decodeBody(text), {
      onNone: () => response,
      onSome: (error) =>
        HttpServerResponse.unsafeJson(encodeBody(rewrite(error)), {
          status: response.status,
          headers: response.headers
        })
    })
  }), { global: true })
