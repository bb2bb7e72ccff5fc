/**
 * The DevTeam Runner client.
 *
 * - `createDevTeamClient` — the REST API as async methods (no Effect needed), failures as `DevTeamError`.
 * - `DevTeamClient` — the REST API as an Effect service, derived from the domain's `HttpApi`.
 * - `DevTeamSocket` — live frames over WebSocket (Node and browsers): reconnects with backoff and
 *   resumes from the last seq seen, so no frame is lost or delivered twice; callbacks, async
 *   iterators, or an Effect `Stream`.
 *
 * Subpaths (`@devteam/client-sdk/PromiseClient`, `…/DevTeamSocket`, …) import one module each.
 */
export * as Backoff from "./Backoff.js"
export { type Client, DevTeamClient, type DevTeamClientOptions, RequestHeaders } from "./DevTeamClient.js"
export {
  type ClientErrorTag,
  DevTeamError,
  type DevTeamErrorTag,
  isDevTeamError,
  type ServerErrorTag
} from "./DevTeamError.js"
export * as DevTeamSocket from "./DevTeamSocket.js"
export {
  type CommandOptions,
  createDevTeamClient,
  type DevTeamClientConfig,
  type DevTeamPromiseClient,
  type ListReadOptions,
  type RequestOptions
} from "./PromiseClient.js"
