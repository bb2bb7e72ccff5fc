/**
 * Bearer JWT (HS256) authentication for every route but `/health`. Without AUTH_JWT_SECRET the
 * server runs in local-only mode: it listens on loopback only and treats every caller as an admin.
 *
 * Token rules (`TokenRules`): `exp` is required and at most JWT_MAX_LIFETIME after `iat` (or after
 * now, without `iat`); an `iat` in the future is refused; `aud` / `iss` must match JWT_AUDIENCE /
 * JWT_ISSUER when those are set. A clock skew of 30 s is tolerated on `iat`; `exp` is exact.
 */
import * as Auth from "@devteam/domain/Auth"
import * as Errors from "@devteam/domain/Errors"
import { Config, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { errors as joseErrors, jwtVerify } from "jose"
import type { ServerConfig } from "./ServerConfig.js"

const decodeClaims = Schema.decodeUnknown(Auth.Claims)

export const localPrincipal: Auth.Principal = {
  userId: "local",
  customerId: undefined,
  projects: ["*"],
  roles: ["admin"],
  local: true
}

export interface TokenRules {
  /** Longest a token may be valid (`exp - iat`, or `exp - now` without `iat`). */
  readonly maxLifetime: Duration.Duration
  readonly audience: Option.Option<string>
  readonly issuer: Option.Option<string>
}

export const defaultRules: TokenRules = {
  maxLifetime: Duration.hours(24),
  audience: Option.none(),
  issuer: Option.none()
}

export const TokenRulesConfig: Config.Config<TokenRules> = Config.all({
  maxLifetime: Config.duration("JWT_MAX_LIFETIME").pipe(
    Config.withDefault(defaultRules.maxLifetime),
    Config.validate({
      message: "JWT_MAX_LIFETIME must be at least 1 minute",
      validation: (d) => Duration.greaterThanOrEqualTo(d, Duration.minutes(1))
    }),
    Config.withDescription("longest validity a token may have (exp - iat)")
  ),
  audience: Config.option(Config.nonEmptyString("JWT_AUDIENCE")).pipe(
    Config.withDescription("required `aud` of every token, when set")
  ),
  issuer: Config.option(Config.nonEmptyString("JWT_ISSUER")).pipe(
    Config.withDescription("required `iss` of every token, when set")
  )
})

const clockSkewSeconds = 30

const unauthorized = (message: string) => new Errors.Unauthorized({ message })

/** Verifies an HS256 token against `rules` and returns its principal. */
export const verify = (
  secret: Uint8Array,
  token: string,
  rules: TokenRules = defaultRules
): Effect.Effect<Auth.Principal, Errors.Unauthorized> =>
  Effect.gen(function*() {
    if (token.length === 0) return yield* new Errors.Unauthorized({ message: "missing bearer token" })
    const { payload } = yield* Effect.tryPromise({
      try: () =>
        jwtVerify(token, secret, {
          algorithms: ["HS256"],
          requiredClaims: ["exp"],
          // exp is exact (a WebSocket is closed at exp; the same token must not reopen it); the skew
          // tolerance applies to iat below
          clockTolerance: 0,
          ...Option.match(rules.audience, { onNone: () => ({}), onSome: (audience) => ({ audience }) }),
          ...Option.match(rules.issuer, { onNone: () => ({}), onSome: (issuer) => ({ issuer }) })
        }),
      catch: (error) =>
        unauthorized(
          error instanceof joseErrors.JWTExpired
            ? "token expired"
            : error instanceof joseErrors.JWTClaimValidationFailed
            ? `token refused: ${
              error.claim === "exp"
                ? "it has no exp (tokens must expire)"
                : error.claim === "aud"
                ? "wrong audience (aud)"
                : error.claim === "iss"
                ? "wrong issuer (iss)"
                : `claim ${error.claim} is not valid`
            }`
            : "invalid token"
        )
    })
    const now = Math.floor(Date.now() / 1000)
    const exp = typeof payload.exp === "number" ? payload.exp : now
    if (typeof payload.iat === "number" && payload.iat > now + clockSkewSeconds) {
      return yield* unauthorized("token refused: issued in the future (iat)")
    }
    const start = typeof payload.iat === "number" ? payload.iat : now
    if (exp - start > Duration.toSeconds(rules.maxLifetime) + clockSkewSeconds) {
      return yield* unauthorized(
        `token refused: valid for longer than JWT_MAX_LIFETIME (${Duration.format(rules.maxLifetime)})`
      )
    }
    const claims = yield* decodeClaims(payload).pipe(
      Effect.mapError(() =>
        new Errors.Unauthorized({ message: "token claims are malformed (need sub; projects/roles arrays)" })
      )
    )
    return {
      userId: claims.sub,
      customerId: claims.customerId,
      projects: claims.projects,
      roles: claims.roles,
      local: false,
      expiresAt: typeof payload.exp === "number" ? payload.exp * 1000 : undefined
    }
  })

/** The bearer check of this configuration: local-only (everyone an admin) or HS256 under `TokenRules`. */
export const makeVerifier = (config: ServerConfig) =>
  Effect.map(TokenRulesConfig, (rules) =>
    Option.match(config.jwtSecret, {
      onNone: () => (_token: string): Effect.Effect<Auth.Principal, Errors.Unauthorized> =>
        Effect.succeed(localPrincipal),
      onSome: (secret) => {
        const key = new TextEncoder().encode(Redacted.value(secret))
        return (token: string) => verify(key, token.trim(), rules)
      }
    }))

export const layer = (config: ServerConfig) =>
  Layer.effect(
    Auth.Authentication,
    Effect.map(makeVerifier(config), (check) => ({
      bearer: (token: Redacted.Redacted<string>) => check(Redacted.value(token))
    }))
  )
