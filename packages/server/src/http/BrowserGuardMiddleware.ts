/**
 * What a web page must not be able to do to this service through a visitor's browser (a global
 * router middleware, before any route — the WebSocket upgrade included):
 *
 * - **Content type**: a state-changing request (anything but GET/HEAD/OPTIONS) that says what its
 *   body is must say `application/json` → else 415. Forms (`application/x-www-form-urlencoded`,
 *   `multipart/form-data`, `text/plain`) are what a browser sends cross-site without a preflight.
 * - **Origin**: a state-changing request or a WebSocket upgrade carrying an `Origin` is refused
 *   (403) unless that origin is this service itself (same host as the request) or listed in
 *   `ALLOWED_ORIGINS`. Clients that are not browsers send no Origin and are unaffected.
 * - **Host** (DNS rebinding): in local-only mode the Host header must name a loopback address, the
 *   bound address, or a name in `ALLOWED_HOSTS`; with authentication on only when `ALLOWED_HOSTS`
 *   is set (a rebound page has no token to send).
 */
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Config, ConfigError, Effect, Either, Option } from "effect"
import type { ServerConfig } from "../ServerConfig.js"
import { errorResponse } from "./ErrorMiddleware.js"

export interface BrowserGuardOptions {
  /** `scheme://host[:port]`, lower case, e.g. `https://console.example.com`. */
  readonly allowedOrigins: ReadonlyArray<string>
  /** Host names (no port), lower case. */
  readonly allowedHosts: ReadonlyArray<string>
}

const listOf = <A>(name: string, parse: (item: string) => Either.Either<A, string>) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.mapOrFail((text) => {
      const items = text.split(/[,\s]+/).filter((item) => item.length > 0).map(parse)
      const bad = items.flatMap((item) => Either.isLeft(item) ? [item.left] : [])
      return bad.length > 0
        ? Either.left(ConfigError.InvalidData([name], bad.join("; ")))
        : Either.right(items.flatMap((item) => Either.isRight(item) ? [item.right] : []))
    })
  )

/** `scheme://host[:port]` of a URL, lower case; none for anything else (`null`, paths, junk). */
export const originOf = (value: string): Option.Option<string> => {
  try {
    const url = new URL(value)
    if (url.protocol !== "http:" && url.protocol !== "https:") return Option.none()
    return Option.some(`${url.protocol}//${url.host}`.toLowerCase())
  } catch {
    return Option.none()
  }
}

export const BrowserGuardConfig: Config.Config<BrowserGuardOptions> = Config.all({
  allowedOrigins: listOf("ALLOWED_ORIGINS", (item) =>
    Option.match(originOf(item), {
      onNone: () => Either.left(`"${item.slice(0, 80)}" is not an origin (scheme://host[:port])`),
      onSome: (origin) =>
        origin === item.toLowerCase().replace(/\/$/, "")
          ? Either.right(origin)
          : Either.left(`"${item.slice(0, 80)}" is not an origin (scheme://host[:port], no path)`)
    })).pipe(Config.withDescription("Web origins (e.g. a console) allowed to send state-changing requests")),
  allowedHosts: listOf("ALLOWED_HOSTS", (item) =>
    /^[a-z0-9.-]+$/i.test(item)
      ? Either.right(item.toLowerCase())
      : Either.left(`"${item.slice(0, 80)}" is not a host name`)).pipe(
      Config.withDescription("Host names the gateway answers to besides loopback and its bound address")
    )
})

const loopbackHosts = ["localhost", "127.0.0.1", "::1"]

/** The host name of a Host header (`name`, `name:port`, `[v6]:port`), lower case, without brackets. */
export const hostNameOf = (header: string): string => {
  const host = header.trim().toLowerCase()
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]") >= 0 ? host.indexOf("]") : undefined)
  const colon = host.lastIndexOf(":")
  return colon >= 0 ? host.slice(0, colon) : host
}

const safeMethods = new Set(["GET", "HEAD", "OPTIONS"])

const isJson = (contentType: string): boolean => {
  const mediaType = contentType.split(";")[0]?.trim().toLowerCase() ?? ""
  return mediaType === "application/json"
}

const hasBody = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const length = request.headers["content-length"]
  return request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")
}

export const make = (config: ServerConfig, options: BrowserGuardOptions) => {
  const authOn = Option.isSome(config.jwtSecret)
  const checkHost = !authOn || options.allowedHosts.length > 0
  const hosts = new Set([
    ...loopbackHosts,
    ...(config.host === "0.0.0.0" || config.host === "::" ? [] : [hostNameOf(config.host)]),
    ...options.allowedHosts
  ])
  const origins = new Set(options.allowedOrigins)
  return (request: HttpServerRequest.HttpServerRequest): Option.Option<HttpServerResponse.HttpServerResponse> => {
    const host = request.headers["host"] ?? ""
    if (checkHost && !hosts.has(hostNameOf(host))) {
      return Option.some(errorResponse(
        403,
        "Forbidden",
        "this Host is not served here (DNS rebinding protection): use the address the service listens on, " +
          "or list the name in ALLOWED_HOSTS"
      ))
    }
    const path = request.url.split("?")[0] ?? ""
    const stateChanging = !safeMethods.has(request.method) || path === "/ws/devteam"
    const origin = request.headers["origin"]
    if (stateChanging && origin !== undefined) {
      const allowed = Option.match(originOf(origin), {
        onNone: () => false,
        onSome: (o) => origins.has(o) || o.slice(o.indexOf("//") + 2) === host.trim().toLowerCase()
      })
      if (!allowed) {
        return Option.some(errorResponse(
          403,
          "Forbidden",
          "cross-origin request refused: this origin is not allowed (the operator can list it in ALLOWED_ORIGINS)"
        ))
      }
    }
    if (!safeMethods.has(request.method)) {
      const contentType = request.headers["content-type"]
      if ((contentType !== undefined && !isJson(contentType)) || (contentType === undefined && hasBody(request))) {
        return Option.some(errorResponse(
          415,
          "UnsupportedMediaType",
          "request bodies must be JSON: send Content-Type: application/json"
        ))
      }
    }
    return Option.none()
  }
}

export const layer = (config: ServerConfig) =>
  HttpLayerRouter.middleware(
    Effect.map(BrowserGuardConfig, (options) => {
      const check = make(config, options)
      return (
        app: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest>
      ) =>
        Effect.flatMap(
          HttpServerRequest.HttpServerRequest,
          (request) => Option.match(check(request), { onNone: () => app, onSome: Effect.succeed })
        )
    }),
    { global: true }
  )
