/**
 * Bearer JWT (HS256) authentication for every route but `/health`. Without AUTH_JWT_SECRET the
 * server runs in local-only mode: it listens on loopback only and treats every caller as an admin.
 */
import * as Auth from "@devteam/domain/Auth"
import * as Errors from "@devteam/domain/Errors"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
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

/** Verifies an HS256 token and returns its principal. */
export const verify = (secret: Uint8Array, token: string): Effect.Effect<Auth.Principal, Errors.Unauthorized> =>
  Effect.gen(function*() {
    if (token.length === 0) return yield* new Errors.Unauthorized({ message: "missing bearer token" })
    const { payload } = yield* Effect.tryPromise({
      try: () => jwtVerify(token, secret, { algorithms: ["HS256"] }),
      catch: (error) =>
        new Errors.Unauthorized({
          message: error instanceof joseErrors.JWTExpired ? "token expired" : "invalid token"
        })
    })
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

export const layer = (config: ServerConfig): Layer.Layer<Auth.Authentication> =>
  Layer.succeed(
    Auth.Authentication,
    Option.match(config.jwtSecret, {
      onNone: () => ({ bearer: () => Effect.succeed(localPrincipal) }),
      onSome: (secret) => {
        const key = new TextEncoder().encode(Redacted.value(secret))
        return { bearer: (token: Redacted.Redacted<string>) => verify(key, Redacted.value(token).trim()) }
      }
    })
  )
