/**
 * The "Sent HTTP response" line of every request (the platform's logger, replaced): the same
 * message and `http.method` / `http.url` / `http.status` annotations, but the URL's query values
 * that can carry a credential (`?token=<JWT>` on `/ws/devteam`, …) are replaced by [REDACTED].
 */
import { HttpMiddleware, HttpServerError, HttpServerRequest } from "@effect/platform"
import { Context, Effect, FiberRef, LogLevel } from "effect"

const sensitive = /token|secret|password|passwd|key|auth|jwt|credential|signature|sig$/i

/** `url` (path + query) with the values of credential-like query parameters redacted. */
export const redactUrl = (url: string): string => {
  const q = url.indexOf("?")
  if (q < 0) return url
  const query = url.slice(q + 1).split("&").map((pair) => {
    const eq = pair.indexOf("=")
    if (eq < 0) return pair
    let name = pair.slice(0, eq)
    try {
      name = decodeURIComponent(name.replaceAll("+", " "))
    } catch {
      // keep it as sent
    }
    return sensitive.test(name) ? `${pair.slice(0, eq)}=[REDACTED]` : pair
  })
  return `${url.slice(0, q)}?${query.join("&")}`
}

let counter = 0

export const logger = HttpMiddleware.make((app) =>
  Effect.withFiberRuntime((fiber) => {
    // the line is a debug line: below the minimum level the request costs nothing here
    if (LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Debug)) return app
    const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
    const annotations = (status: number) => ({
      "http.method": request.method,
      "http.url": redactUrl(request.url),
      "http.status": status
    })
    return Effect.withLogSpan(
      Effect.flatMap(Effect.exit(app), (exit) => {
        if (fiber.getFiberRef(HttpMiddleware.loggerDisabled)) return exit
        if (exit._tag === "Success") {
          return Effect.zipRight(
            Effect.annotateLogs(Effect.log("Sent HTTP response"), annotations(exit.value.status)),
            exit
          )
        }
        const [response, cause] = HttpServerError.causeResponseStripped(exit.cause)
        return Effect.zipRight(
          Effect.annotateLogs(
            Effect.log(cause._tag === "Some" ? cause.value : "Sent HTTP Response"),
            annotations(response.status)
          ),
          exit
        )
      }),
      `http.span.${++counter}`
    )
  })
)
