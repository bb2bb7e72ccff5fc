/**
 * Request-decoding errors (400 HttpApiDecodeError) say which field is wrong and why, but not how
 * the service checks it: Schema's default descriptions of a refinement quote the internal regular
 * expression ("a string matching the pattern ^[A-Za-z0-9._/-]+$"); those are replaced here.
 */
import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"

const patternText = /a string matching the pattern \S+/g

/** `text` without any quoted regular expression. */
export const scrub = (text: string): string => text.replace(patternText, "a string in the expected format")

/** Every string inside a decoded JSON value, scrubbed. */
const scrubJson = (value: unknown): unknown =>
  typeof value === "string"
    ? scrub(value)
    : Array.isArray(value)
    ? value.map(scrubJson)
    : typeof value === "object" && value !== null
    ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubJson(v)]))
    : value

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export const layer = HttpLayerRouter.middleware((app) =>
  Effect.map(app, (response) => {
    if (response.status !== 400 || response.body._tag !== "Uint8Array") return response
    const text = new TextDecoder().decode(response.body.body)
    if (!text.includes("HttpApiDecodeError") || !text.includes("a string matching the pattern")) return response
    const body = parse(text)
    if (body === undefined) return response
    return HttpServerResponse.unsafeJson(scrubJson(body), { status: response.status, headers: response.headers })
  }), { global: true })
