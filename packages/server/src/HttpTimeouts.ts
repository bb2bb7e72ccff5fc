/**
 * How long the gateway's Node HTTP server waits for a client's request (issue 20: a body may no
 * longer trickle in for Node's default 300 s): `HTTP_HEADERS_TIMEOUT` for the headers,
 * `HTTP_REQUEST_TIMEOUT` for the whole request, body included. A client past either gets 408 and
 * its connection closed. They bound receiving a request only, never how long a response may take
 * (a step's `/prep` answer), and a WebSocket once upgraded is no longer an HTTP request.
 */
import { Config, ConfigError, Duration, Either } from "effect"
import { createServer, type Server } from "node:http"

export interface HttpTimeouts {
  readonly headers: Duration.Duration
  readonly request: Duration.Duration
}

export const HttpTimeoutsConfig: Config.Config<HttpTimeouts> = Config.all({
  headers: Config.duration("HTTP_HEADERS_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(10)),
    Config.withDescription("longest a client may take to send a request's headers")
  ),
  request: Config.duration("HTTP_REQUEST_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(30)),
    Config.withDescription("longest a client may take to send a whole request (headers and body)")
  )
}).pipe(
  Config.mapOrFail((timeouts) => {
    const headers = Duration.toMillis(timeouts.headers)
    const request = Duration.toMillis(timeouts.request)
    if (headers < 1000) {
      return Either.left(
        ConfigError.InvalidData(["HTTP_HEADERS_TIMEOUT"], "HTTP_HEADERS_TIMEOUT must be at least 1 second")
      )
    }
    // Node refuses a headers timeout above the request timeout
    if (request < headers) {
      return Either.left(
        ConfigError.InvalidData(["HTTP_REQUEST_TIMEOUT"], "HTTP_REQUEST_TIMEOUT must be at least HTTP_HEADERS_TIMEOUT")
      )
    }
    return Either.right(timeouts)
  })
)

/** A Node HTTP server that enforces `timeouts` (checked every second, not Node's default 30). */
export const createServerWith = (timeouts: HttpTimeouts) => (): Server =>
  createServer({
    headersTimeout: Duration.toMillis(timeouts.headers),
    requestTimeout: Duration.toMillis(timeouts.request),
    connectionsCheckingInterval: 1000
  })
