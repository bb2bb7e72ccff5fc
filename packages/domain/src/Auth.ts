/**
 * Who is calling: the JWT claims the API uses (`sub`, `customerId`, `projects`, `roles`), and the
 * bearer-auth middleware every route but `/health` declares. The server implements the middleware.
 */
import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context, Schema } from "effect"
import { Forbidden, Unauthorized } from "./Errors.js"
import { customerIdOf, type ProjectId } from "./Ids.js"

/** The verified claims of a JWT (HS256). */
export class Claims extends Schema.Class<Claims>("Claims")({
  sub: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  customerId: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  projects: Schema.optionalWith(Schema.Array(Schema.String.pipe(Schema.maxLength(200))), { default: () => [] }),
  roles: Schema.optionalWith(Schema.Array(Schema.String.pipe(Schema.maxLength(100))), { default: () => [] })
}) {}

export interface Principal {
  readonly userId: string
  readonly customerId: string | undefined
  readonly projects: ReadonlyArray<string>
  readonly roles: ReadonlyArray<string>
  /** No AUTH_JWT_SECRET: local development, every caller is an admin. */
  readonly local: boolean
  /** When the token stops being valid (epoch ms), if it says; long-lived connections end then. */
  readonly expiresAt?: number | undefined
}

export class CurrentPrincipal extends Context.Tag("@devteam/domain/CurrentPrincipal")<CurrentPrincipal, Principal>() {}

export const isAdmin = (principal: Principal): boolean => principal.local || principal.roles.includes("admin")

/** A caller may touch a project listed in `projects` (or `*`), or one of its `customerId`. */
export const canAccessProject = (principal: Principal, projectId: ProjectId): boolean =>
  isAdmin(principal) ||
  principal.projects.includes("*") ||
  principal.projects.includes(projectId) ||
  (principal.customerId !== undefined && principal.customerId === customerIdOf(projectId))

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Authentication", {
  failure: Schema.Union(Unauthorized, Forbidden),
  provides: CurrentPrincipal,
  security: { bearer: HttpApiSecurity.bearer }
}) {}
