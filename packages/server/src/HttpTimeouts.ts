/**
 * How long the gateway's Node HTTP server waits for a client's request (issue 20: a body may no
 * longer trickle in for Node's default 300 s): `HTTP_HEADERS_TIMEOUT` for the headers,
 * `HTTP_REQUEST_TIMEOUT` for the whole request, body included. A client past either gets 408 and
 * its connection closed. They bound receiving a request only, never how long a response may take
 * (a step's `/prep` answer), and a WebSocket once upgraded is no longer an HTTP request.
 *
 * `HTTP_KEEP_ALIVE_TIMEOUT` (65 s, not Node's 5 s): how long an idle keep-alive connection stays
 * open. A client that sends on a connection at the moment the server closes it gets a reset
 * (`socket hang up`) for a request the service never saw. Clients that honour the response's
 * `Keep-Alive: timeout=` close their side first, but a busy event loop on either side delays that
 * (the embedded database runs on the service's): the peer benchmark on PGlite lost POSTs this way
 * in 2 of 4 runs with Node's 5 s, none in 4 with 65 s. A load balancer in front (60 s idle on the
 * common ones) must close first, so the service's is longer.
 */
import { Config, ConfigError, Duration, Either } from "effect"
import { createServer, type Server } from "node:http"

export interface HttpTimeouts {
  readonly headers: Duration.Duration
  readonly request: Duration.Duration
  readonly keepAlive: Duration.Duration
}

export const HttpTimeoutsConfig: Config.Config<HttpTimeouts> = Config.all({
  headers: Config.duration("HTTP_HEADERS_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(10)),
    Config.withDescription("longest a client may take to send a request's headers")
  ),
  request: Config.duration("HTTP_REQUEST_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(30)),
    Config.withDescription("longest a client may take to send a whole request (headers and body)")
  ),
  keepAlive: Config.duration("HTTP_KEEP_ALIVE_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(65)),
    Config.withDescription("how long an idle keep-alive connection stays open")
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
    if (Duration.toMillis(timeouts.keepAlive) < 1000) {
      return Either.left(
        ConfigError.InvalidData(["HTTP_KEEP_ALIVE_TIMEOUT"], "HTTP_KEEP_ALIVE_TIMEOUT must be at least 1 second")
      )
    }
    return Either.right(timeouts)
  })
)

/** A Node HTTP server that enforces `timeouts` (the request's checked every second, not Node's default 30). */
export const createServerWith = (timeouts: HttpTimeouts) => (): Server =>
  createServer({
    headersTimeout: Duration.toMillis(timeouts.headers),
    requestTimeout: Duration.toMillis(timeouts.request),
    connectionsCheckingInterval: 1000,
    keepAliveTimeout: Duration.toMillis(timeouts.keepAlive)
  })
