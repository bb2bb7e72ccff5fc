/**
 * The route reference of docs/api.md, rendered from the OpenAPI document the service serves
 * (itself derived from the domain's `HttpApi`), so the guide cannot drift from the routes.
 * `npm run docs:api` rewrites the generated block of docs/api.md; a test checks it is current.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { OpenApi } from "@effect/platform"
import { Predicate } from "effect"

export const BEGIN = "<!-- BEGIN GENERATED: npm run docs:api -->"
export const END = "<!-- END GENERATED -->"

const get = (value: unknown, key: string): unknown => Predicate.hasProperty(value, key) ? value[key] : undefined
const str = (value: unknown): string | undefined => typeof value === "string" ? value : undefined
const list = (value: unknown): ReadonlyArray<unknown> => Array.isArray(value) ? value : []
const entries = (value: unknown): ReadonlyArray<readonly [string, unknown]> =>
  Predicate.isRecord(value) ? Object.entries(value) : []

const refName = (schema: unknown): string | undefined => str(get(schema, "$ref"))?.split("/").at(-1)

// Effect's generated descriptions only restate the type ("a string at most 200 character(s) long").
const generated = /^(a|an) (string|integer|number|non-negative|positive|array|Int)\b/

/** A compact type: `ProjectId`, `string`, `"a" | "b"`, `Task[]`, `{ found, path }`. */
const typeOf = (schema: unknown): string => {
  const ref = refName(schema)
  if (ref !== undefined) return `\`${ref}\``
  const anyOf = list(get(schema, "anyOf"))
  if (anyOf.length > 0) return anyOf.map(typeOf).join(" \\| ")
  const enumeration = list(get(schema, "enum"))
  if (enumeration.length > 0) return enumeration.map((v) => `\`${JSON.stringify(v)}\``).join(" \\| ")
  const constant = get(schema, "const")
  if (constant !== undefined) return `\`${JSON.stringify(constant)}\``
  const type = get(schema, "type")
  if (type === "array") return `${typeOf(get(schema, "items"))}[]`
  if (type === "object") {
    const props = entries(get(schema, "properties")).map(([name]) => name)
    if (props.length > 0) return `{ ${props.join(", ")} }`
    const additional = get(schema, "additionalProperties")
    return Predicate.isRecord(additional) ? `map of ${typeOf(additional)}` : "object"
  }
  return typeof type === "string" ? type : "any"
}

const describe = (schema: unknown): string => {
  const description = str(get(schema, "description"))
  return description === undefined || generated.test(description) ? "" : description.replaceAll("\n", " ")
}

const escapeCell = (text: string) => text.replaceAll("|", "\\|")

const propertyTable = (schema: unknown): ReadonlyArray<string> => {
  const required = new Set(list(get(schema, "required")).flatMap((r) => typeof r === "string" ? [r] : []))
  const rows = entries(get(schema, "properties")).map(([name, prop]) =>
    `| \`${name}\` | ${typeOf(prop)} | ${required.has(name) ? "yes" : ""} | ${escapeCell(describe(prop))} |`
  )
  return rows.length === 0 ? [] : ["| field | type | required | notes |", "|---|---|---|---|", ...rows]
}

const jsonSchemaOf = (body: unknown): unknown => get(get(get(body, "content"), "application/json"), "schema")

const anchor = (name: string) => `schema-${name.toLowerCase()}`

/** Renders the routes (by tag) and the schemas of their bodies and results as Markdown. */
export const renderRoutes = (spec: OpenApi.OpenAPISpec): string => {
  const schemas = spec.components.schemas
  const used = new Set<string>()
  const link = (schema: unknown): string => {
    const name = refName(schema)
    if (name === undefined) return typeOf(schema)
    used.add(name)
    return `[\`${name}\`](#${anchor(name)})`
  }
  const out: Array<string> = []
  const tags = spec.tags.map((t) => t.name)
  const operations = entries(spec.paths).flatMap(([path, item]) =>
    entries(item).map(([method, op]) => ({ path, method: method.toUpperCase(), op }))
  )
  // the HttpApi's own tags, then the documentation-only groups if the spec does not list them already
  for (const tag of new Set([...tags, "websocket", "docs"])) {
    const ops = operations.filter(({ op }) => list(get(op, "tags")).includes(tag))
    if (ops.length === 0) continue
    const description = spec.tags.find((t) => t.name === tag)?.description
    out.push(`### ${tag}`, "")
    if (description !== undefined) out.push(description, "")
    for (const { method, op, path } of ops) {
      out.push(`#### \`${method} ${path}\``, "")
      const summary = str(get(op, "summary"))
      const details = str(get(op, "description"))
      if (summary !== undefined) out.push(summary, "")
      if (details !== undefined && details !== summary) out.push(details, "")
      const params = list(get(op, "parameters"))
      if (params.length > 0) {
        out.push(
          "Parameters: " + params.map((p) => {
            const name = str(get(p, "name")) ?? "?"
            const where = str(get(p, "in")) ?? "?"
            return `\`${name}\` (${where}${get(p, "required") === true ? ", required" : ""})`
          }).join(", ") + ".",
          ""
        )
      }
      const body = get(op, "requestBody")
      if (body !== undefined) out.push(`Body: ${link(jsonSchemaOf(body))}.`, "")
      const responses = entries(get(op, "responses"))
      const ok = responses.filter(([code]) => code.startsWith("2") || code === "101")
      const failures = responses.filter(([code]) => !code.startsWith("2") && code !== "101")
      for (const [code, response] of ok) {
        const schema = jsonSchemaOf(response)
        out.push(
          `Answer \`${code}\`: ${schema === undefined ? (str(get(response, "description")) ?? "") : link(schema)}.`,
          ""
        )
      }
      if (failures.length > 0) {
        const errorNames = (response: unknown) => {
          const schema = jsonSchemaOf(response)
          const options = list(get(schema, "anyOf"))
          return (options.length > 0 ? options : [schema]).map((s) => refName(s) ?? str(get(response, "description")))
            .filter((n): n is string => n !== undefined)
            .map((n) => `\`${n}\``).join(", ")
        }
        out.push(`Errors: ${failures.map(([code, r]) => `${code} ${errorNames(r)}`).join("; ")}.`, "")
      }
    }
  }
  out.push("### Schemas", "", "The bodies and answers above (errors are `{ _tag, message, ... }`).", "")
  const done = new Set<string>()
  const queue = [...used].sort()
  while (queue.length > 0) {
    const name = queue.shift()
    if (name === undefined || done.has(name)) continue
    done.add(name)
    const schema = schemas[name]
    out.push(`#### <a id="${anchor(name)}"></a>\`${name}\``, "")
    const description = describe(schema)
    if (description !== "") out.push(description, "")
    const table = propertyTable(schema)
    out.push(...(table.length > 0 ? table : [`${typeOf(schema)}`]), "")
    // the objects it refers to get a section too
    for (const [, prop] of entries(get(schema, "properties"))) {
      for (const s of [prop, get(prop, "items"), ...list(get(prop, "anyOf"))]) {
        const ref = refName(s)
        if (ref !== undefined && get(schemas[ref], "type") === "object" && !done.has(ref)) queue.push(ref)
      }
    }
  }
  return out.join("\n").trimEnd() + "\n"
}

export const apiSpec = (): OpenApi.OpenAPISpec => OpenApi.fromApi(DevTeamApi)

/** docs/api.md with its generated block replaced by the current routes. */
export const withGeneratedRoutes = (doc: string, spec: OpenApi.OpenAPISpec = apiSpec()): string => {
  const start = doc.indexOf(BEGIN)
  const end = doc.indexOf(END)
  if (start < 0 || end < start) throw new Error(`docs/api.md has no "${BEGIN}" … "${END}" block`)
  return `${doc.slice(0, start + BEGIN.length)}\n\n${renderRoutes(spec)}\n${doc.slice(end)}`
}
