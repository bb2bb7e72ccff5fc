/**
 * The work trees' lifetime: removal of those unused for a while that no active execution uses and
 * no operation holds right now (plus leftovers of interrupted clones and validations), and the
 * directory name of a repository's work tree.
 */
import { Duration, Effect, Option } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as RepoUrl from "../RepoUrl.js"
import type { CleanupOptions, Workspace } from "../Workspace.js"
import type { WorkspaceLocks } from "../WorkspaceLocks.js"
import type { GitPlumbing } from "./gitPlumbing.js"

type WorkTrees = Pick<Workspace["Type"], "cleanup" | "repoKey">

export const make = (plumbing: GitPlumbing, locks: WorkspaceLocks["Type"]): WorkTrees => {
  const { config, fsOp, keyFor, removeDir, workspaceDir } = plumbing

  const cleanup = Effect.fn("Workspace.cleanup")(function*(options: CleanupOptions) {
    const active = new Set(options.activeRepoKeys)
    const only = options.only === undefined ? undefined : new Set(options.only)
    const maxAge = Duration.toMillis(Duration.decode(options.olderThan))
    const entries = yield* fsOp("list workspaces", () =>
      Fs.readdir(workspaceDir).catch((e: unknown) => {
        if (e instanceof Error && "code" in e && e.code === "ENOENT") return []
        throw e
      }))
    const removed: Array<string> = []
    const kept: Array<string> = []
    const now = Date.now()
    for (const name of entries) {
      if (only !== undefined && !only.has(name)) continue
      const isWorkspace = RepoUrl.isCacheKey(name)
      if (!isWorkspace && !/^\.(?:tmp-clone|validate)-/.test(name)) continue
      const full = Path.join(workspaceDir, name)
      const stat = yield* Effect.promise(() => Fs.stat(full).catch(() => undefined))
      if (stat === undefined) continue
      const idle = now - stat.mtimeMs >= maxAge
      if (!isWorkspace) {
        if (idle) yield* removeDir(full)
        continue
      }
      if (active.has(name) || !idle) {
        kept.push(name)
        continue
      }
      // Never remove a workspace an operation holds right now.
      const done = yield* locks.ifFree(full)(removeDir(full))
      if (Option.isSome(done)) removed.push(name)
      else kept.push(name)
    }
    if (removed.length > 0) yield* Effect.logInfo(`Workspace cleanup removed ${removed.length} workspace(s)`)
    return { removed, kept }
  })

  const repoKey = (repoUrl: string, project?: string) =>
    Effect.map(RepoUrl.validate(repoUrl, { allowFile: config.allowFile }), (r) => keyFor(r, project))

  return { cleanup, repoKey }
}
