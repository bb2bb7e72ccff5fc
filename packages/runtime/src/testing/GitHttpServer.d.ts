/**
 * A real smart-HTTP git server for tests: a node:http server on 127.0.0.1 that runs
 * `git http-backend` (CGI) for every request, behind HTTP basic auth.
 *
 * - Repositories are the bare repositories directly under `root` (`<baseUrl>/<name>.git`).
 * - Requests without the right `Authorization: Basic` header get 401 (git then fails, since
 *   prompts are off); fetch and push are allowed for an authenticated user (`allowPush: false`
 *   turns receive-pack off).
 * - `requests` records method, path, status and whether the request was authorised, never the
 *   credentials themselves.
 *
 * Use `make` (scoped, Effect) or `start` (Promise, with `close()`).
 */
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
export declare const httpBackendPath = "/usr/lib/git-core/git-http-backend"
export interface GitHttpServerOptions {
  /** Directory whose bare repositories are served. */
  readonly root: string
  readonly username: string
  readonly password: string
  /** Accept pushes (git-receive-pack) from the authenticated user; default true. */
  readonly allowPush?: boolean
  /** Awaited before an authorised request is served: hold a request open to simulate a slow remote. */
  readonly beforeServe?: (request: {
    readonly method: string
    readonly path: string
  }) => Promise<void>
}
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly status: number
  readonly authorized: boolean
}
export interface GitHttpServer {
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string
  readonly root: string
  /** `http://127.0.0.1:<port>/<name>` (no credentials in it). */
  readonly url: (repoName: string) => string
  readonly requests: ReadonlyArray<RecordedRequest>
}
export interface RunningGitHttpServer extends GitHttpServer {
  readonly close: () => Promise<void>
}
/** Starts the server (Promise API). */
export declare const start: (options: GitHttpServerOptions) => Promise<RunningGitHttpServer>
/** The server for the life of the scope. */
export declare const make: (options: GitHttpServerOptions) => Effect.Effect<GitHttpServer, never, Scope.Scope>
// # sourceMappingURL=GitHttpServer.d.ts.map
