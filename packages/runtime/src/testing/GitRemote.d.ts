/**
 * Real git remotes for tests: bare repositories seeded with files (a task list by default), a
 * "second clone" that pushes behind the service's back, and readers of a remote's state.
 *
 * Everything runs the real `git` binary with an isolated configuration (no global/system config).
 */
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
export declare const testAuthor: {
  name: string
  email: string
}
/** Runs git synchronously and returns stdout; throws (with stderr) on a non-zero exit. */
export declare const git: (cwd: string, args: ReadonlyArray<string>, input?: string) => string
/** A temporary directory removed when the scope closes. */
export declare const tempDir: (prefix?: string) => Effect.Effect<string, never, Scope.Scope>
export declare const sampleTaskList =
  "# Tasks\n\nPhase 1: Foundations\n\n- 1.1 Setup (Dependencies: [])\n  - [ ] 1.1.1 Create the project skeleton\n  - [ ] 1.1.2 Add a README\n- 1.2 Pages (Dependencies: [1.1])\n  - [ ] 1.2.1 Add login page\n"
export declare const defaultFiles: Readonly<Record<string, string>>
export interface BareRemoteOptions {
  /** Directory that holds the bare repository (e.g. the http server's project root). */
  readonly root: string
  /** Directory name of the bare repository; default `repo.git`. */
  readonly name?: string
  readonly branch?: string
  readonly files?: Readonly<Record<string, string>>
}
/** Creates `<root>/<name>` as a bare repository whose `branch` holds one commit with `files`; returns its path. */
export declare const makeBareRemote: (options: BareRemoteOptions) => string
export interface PushChangeOptions {
  /** A path or URL git can push to without credentials (use the bare path for http-served remotes). */
  readonly remote: string
  readonly branch?: string
  readonly files: Readonly<Record<string, string>>
  readonly message?: string
}
/** A second clone that commits `files` on `branch` and pushes first; returns the new commit. */
export declare const pushChange: (options: PushChangeOptions) => string
export declare const remoteHead: (bare: string, branch?: string) => string
export declare const remoteFile: (bare: string, path: string, branch?: string) => string
/** Every ref of the repository with its commit: compare before/after to prove nothing was written. */
export declare const refsOf: (repo: string) => string
/** True when `ancestor` is reachable from `descendant` in `repo`. */
export declare const isAncestor: (repo: string, ancestor: string, descendant: string) => boolean
/** `file://` URL of a local path. */
export declare const fileUrl: (path: string) => string
// # sourceMappingURL=GitRemote.d.ts.map
