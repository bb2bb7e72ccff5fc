/**
 * A deleted project's work trees go (its journal stays): the per-project work tree of its
 * repository, skipped while an operation holds it (the janitor removes it later then).
 */
import type { ProjectId } from "@devteam/domain/Ids"
import { Workspace } from "@devteam/runtime/Workspace"
import { Context, Effect, Layer } from "effect"

export class ProjectWorkTrees extends Context.Tag("@devteam/runner/ProjectWorkTrees")<ProjectWorkTrees, {
  /** Removes the project's work tree of `repoUrl`; failures are logged, never raised (it is a cache). */
  readonly remove: (projectId: ProjectId, repoUrl: string) => Effect.Effect<void>
}>() {}

export const layer = Layer.effect(
  ProjectWorkTrees,
  Effect.map(Workspace, (workspace) =>
    ProjectWorkTrees.of({
      remove: (projectId, repoUrl) =>
        workspace.repoKey(repoUrl, projectId).pipe(
          Effect.flatMap((key) => workspace.cleanup({ olderThan: 0, activeRepoKeys: [], only: [key] })),
          Effect.tap((result) =>
            Effect.logInfo(`project deleted: removed ${result.removed.length} work tree(s)`).pipe(
              Effect.annotateLogs({ projectId })
            )
          ),
          Effect.catchAllCause((cause) => Effect.logWarning("removing a deleted project's work tree failed", cause)),
          Effect.asVoid
        )
    }))
)
