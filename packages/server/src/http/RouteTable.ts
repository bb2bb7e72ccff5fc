/**
 * Every route the gateway serves, as method + path template: the HttpApi's endpoints and the routes
 * served beside it. Used to label metrics by template (bounded cardinality) and to answer a known
 * path asked with the wrong method with 405 and its `Allow` header instead of 404.
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { HttpApi } from "@effect/platform"

interface Template {
  readonly method: string
  readonly path: string
  readonly pattern: RegExp
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const template = (method: string, path: string): Template => {
  const source = path.split("/").map((segment) => segment.startsWith(":") ? "[^/]+" : escape(segment)).join("/")
  return { method, path, pattern: new RegExp(`^${source}$`) }
}

const templates: ReadonlyArray<Template> = (() => {
  const out: Array<Template> = []
  HttpApi.reflect(DevTeamApi, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      out.push(template(endpoint.method, endpoint.path))
    }
  })
  out.push(template("GET", "/ws/devteam"))
  out.push(template("GET", "/openapi.json"))
  out.push(template("GET", "/docs"))
  return out
})()

const pathOf = (url: string): string => url.split("?")[0] ?? url

/** The route template a request path matches, or `unmatched`. */
export const routeOf = (method: string, url: string): string => {
  const path = pathOf(url)
  const found = templates.find((t) => t.method === method && t.pattern.test(path))
  return found?.path ?? "unmatched"
}

/**
 * The methods served on the path of `url` (`HEAD` wherever `GET` is, as the router answers it),
 * sorted; empty when no route has this path.
 */
export const allowedMethods = (url: string): ReadonlyArray<string> => {
  const path = pathOf(url)
  const methods = new Set<string>()
  for (const t of templates) {
    if (!t.pattern.test(path)) continue
    methods.add(t.method)
    if (t.method === "GET") methods.add("HEAD")
  }
  return [...methods].sort()
}
