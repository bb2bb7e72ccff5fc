/**
 * The download cache a sandbox keeps per project across tasks and executions (npm, pnpm and yarn
 * caches, the pnpm/yarn binaries fetched by npx): a directory under `SANDBOX_CACHE_DIR` (default
 * `<os temp>/devteam-sandbox-cache`) named after the project. Docker mounts it at `/cache`; the
 * local sandbox uses it in place. It holds downloaded packages only — no secret is written there.
 */
import { Config, Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"

export const CacheRootConfig: Config.Config<string> = Config.string("SANDBOX_CACHE_DIR").pipe(
  Config.withDefault(path.join(os.tmpdir(), "devteam-sandbox-cache")),
  Config.validate({ message: "SANDBOX_CACHE_DIR must be an absolute path", validation: (p) => path.isAbsolute(p) }),
  Config.withDescription("Per-project download caches of the sandboxes (package managers)")
)

/** Where the cache is mounted in a docker sandbox. */
export const containerPath = "/cache"

/** The project's cache directory on the host, created (writable by the sandbox user) when missing. */
export const projectCacheDir = (projectId: string): Effect.Effect<string> =>
  Effect.gen(function*() {
    const root = yield* Effect.orDie(CacheRootConfig)
    const name = `${projectId.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 60)}-${
      createHash("sha256").update(projectId).digest("hex").slice(0, 12)
    }`
    const dir = path.join(root, name)
    yield* Effect.promise(async () => {
      await fs.mkdir(dir, { recursive: true })
      // the docker sandbox's user (uid 1000) writes here
      await fs.chmod(dir, 0o777)
    })
    return dir
  })
