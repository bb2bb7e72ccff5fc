/**
 * The Workspace port over git and a directory of work trees (WORKSPACE_DIR): the branch lifecycle,
 * the task-list file and the work trees' cleanup, each in its own module under `internal/`, over
 * shared git plumbing and one lock per work tree (WorkspaceLocks).
 */
import type { ConfigError } from "effect"
import { Effect, Layer } from "effect"
import * as GitPlumbing from "./internal/gitPlumbing.js"
import * as WorkspaceBranches from "./internal/workspaceBranches.js"
import * as WorkspaceTaskList from "./internal/workspaceTaskList.js"
import * as WorkTreeCleanup from "./internal/workTreeCleanup.js"
import type * as Redaction from "./Redaction.js"
import { Workspace, WorkspaceConfig } from "./Workspace.js"
import * as WorkspaceLocks from "./WorkspaceLocks.js"

export const make = (
  config: WorkspaceConfig
): Effect.Effect<Workspace["Type"], never, Redaction.Redactor | WorkspaceLocks.WorkspaceLocks> =>
  Effect.gen(function*() {
    const plumbing = yield* GitPlumbing.make(config)
    const locks = yield* WorkspaceLocks.WorkspaceLocks
    return Workspace.of({
      config,
      ...WorkspaceBranches.make(plumbing, locks),
      ...WorkspaceTaskList.make(plumbing, locks),
      ...WorkTreeCleanup.make(plumbing, locks)
    })
  })

/**
 * The Workspace over the given configuration, with its own work-tree locks (requires a Redactor).
 * Build it once per WORKSPACE_DIR in a process: two instances over one directory do not share locks.
 */
export const layer = (config: WorkspaceConfig): Layer.Layer<Workspace, never, Redaction.Redactor> =>
  Layer.effect(Workspace, make(config)).pipe(Layer.provide(WorkspaceLocks.layer))

/** The Workspace over `WorkspaceConfig` read from the environment (requires a Redactor). */
export const layerConfig: Layer.Layer<Workspace, ConfigError.ConfigError, Redaction.Redactor> = Layer.effect(
  Workspace,
  Effect.gen(function*() {
    const config = yield* WorkspaceConfig
    yield* GitPlumbing.warnUnscopedToken
    return yield* make(config)
  })
).pipe(Layer.provide(WorkspaceLocks.layer))
