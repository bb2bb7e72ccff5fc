/**
 * The typed REST client for Effect code: `HttpApiClient.make` of the domain's `DevTeamApi`, so every
 * route, payload, success and tagged error is the server's own declaration.
 *
 * What the client adds on top of the derived one:
 * - the bearer token (a `Redacted`, never logged) on every request;
 * - an `Idempotency-Key` on every POST/PUT that has none, generated once per call, so the
 *   transport retries below, and the server's idempotency store, make a repeated call harmless;
 * - retries of transport failures (connection refused or reset), reusing that key;
 * - path parameters are percent-encoded by the API declaration itself (project ids contain `/`).
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const client = yield* DevTeamClient
 *   return yield* client.automation.status({ path: { projectId: ProjectId.make("acme/shop") } })
 * })
 * program.pipe(Effect.provide(DevTeamClient.layerFetch({ baseUrl: "http://127.0.0.1:8080", token })))
 * ```
 */
import { DevTeamApi } from "@devteam/domain/Api"
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Config, type ConfigError, Context, Effect, Layer, Option, Redacted, Schedule } from "effect"

export interface DevTeamClientOptions {
  /** Where the service listens, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  readonly baseUrl: string | URL
  /**
   * The JWT; omit only against a local service without `AUTH_JWT_SECRET`. An effect is run before
   * every request (a token that refreshes itself).
   */
  readonly token?: Redacted.Redacted<string> | string | Effect.Effect<Redacted.Redacted<string> | string> | undefined
  /** Transport failures retried per call (default 2; 0 disables). */
  readonly retries?: number | undefined
  /** Delay before the first retry, doubled after each (default 200 ms). */
  readonly retryDelayMillis?: number | undefined
}

const IDEMPOTENCY_HEADER = "idempotency-key"

/**
 * Extra headers for the requests made within an effect, e.g. a caller's `x-correlation-id`
 * (echoed by the server, in its logs and journal): `Effect.provideService(RequestHeaders, {...})`.
 */
export class RequestHeaders extends Context.Reference<RequestHeaders>()("@devteam/client-sdk/RequestHeaders", {
  defaultValue: (): Readonly<Record<string, string>> => ({})
}) {}

const randomKey = (): string => globalThis.crypto.randomUUID()

/** POST and PUT change state; an explicit key (header) is kept as it is. */
const withIdempotencyKey = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
  (request.method === "POST" || request.method === "PUT") && request.headers[IDEMPOTENCY_HEADER] === undefined
    ? HttpClientRequest.setHeader(request, IDEMPOTENCY_HEADER, randomKey())
    : request

/** The `HttpClient` behaviour the SDK wants, applied to any client (fetch, node:http, a test client). */
export const transformClient = (options: Omit<DevTeamClientOptions, "baseUrl">) => {
  const token: Effect.Effect<string | undefined> = options.token === undefined
    ? Effect.succeed(undefined)
    : Effect.isEffect(options.token)
    ? Effect.map(options.token, (value) => (Redacted.isRedacted(value) ? Redacted.value(value) : value))
    : Effect.succeed(Redacted.isRedacted(options.token) ? Redacted.value(options.token) : options.token)
  const retries = options.retries ?? 2
  return (client: HttpClient.HttpClient): HttpClient.HttpClient => {
    // retry first, then add the key: the key is generated once per call and every retry reuses it
    const retrying = retries <= 0 ? client : HttpClient.retryTransient(client, {
      mode: "errors-only",
      times: retries,
      schedule: Schedule.exponential(options.retryDelayMillis ?? 200)
    })
    return retrying.pipe(
      HttpClient.mapRequest(withIdempotencyKey),
      HttpClient.mapRequestEffect((request) =>
        Effect.map(
          Effect.all([token, RequestHeaders]),
          ([bearer, headers]) => {
            const withHeaders = HttpClientRequest.setHeaders(request, headers)
            return bearer === undefined ? withHeaders : HttpClientRequest.bearerToken(withHeaders, bearer)
          }
        )
      )
    )
  }
}

/** Builds the client on the `HttpClient` in context. */
export const make = (options: DevTeamClientOptions) =>
  HttpApiClient.make(DevTeamApi, {
    baseUrl: options.baseUrl,
    transformClient: transformClient(options)
  })

/** Every route of the API, grouped as in the `HttpApi` (`client.automation.status(...)`, `client.prep(...)`). */
export type Client = Effect.Effect.Success<ReturnType<typeof make>>

export class DevTeamClient extends Context.Tag("@devteam/client-sdk/DevTeamClient")<DevTeamClient, Client>() {
  /** Needs an `HttpClient` (e.g. `FetchHttpClient.layer`, `NodeHttpClient.layerUndici`). */
  static readonly layer = (options: DevTeamClientOptions): Layer.Layer<DevTeamClient, never, HttpClient.HttpClient> =>
    Layer.effect(DevTeamClient, make(options))

  /** On the platform's `fetch`. */
  static readonly layerFetch = (options: DevTeamClientOptions): Layer.Layer<DevTeamClient> =>
    DevTeamClient.layer(options).pipe(Layer.provide(FetchHttpClient.layer))

  /** From configuration: `DEVTEAM_URL` (required) and `DEVTEAM_TOKEN` (secret, optional), on `fetch`. */
  static readonly layerConfig: Layer.Layer<DevTeamClient, ConfigError.ConfigError> = Layer.unwrapEffect(
    Effect.map(
      Config.all({
        baseUrl: Config.url("DEVTEAM_URL"),
        token: Config.option(Config.redacted("DEVTEAM_TOKEN"))
      }),
      ({ baseUrl, token }) => DevTeamClient.layerFetch({ baseUrl, token: Option.getOrUndefined(token) })
    )
  )
}
