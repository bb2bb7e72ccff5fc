/**
 * RepositoryProbe against a real smart-HTTP git server (git-http-backend): default-branch probes
 * of one repository asked together share one question to the remote.
 */
import * as Redaction from "@devteam/runtime/Redaction"
import * as RepositoryProbe from "@devteam/runtime/RepositoryProbe"
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
import { makeBareRemote, tempDir } from "@devteam/runtime/testing/GitRemote"
import { workspaceConfig } from "@devteam/runtime/testing/TestWorkspace"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import * as Path from "node:path"

describe("RepositoryProbe", () => {
  it.scopedLive("default-branch probes of one repository asked together share one question to the remote", () =>
    Effect.gen(function*() {
      const root = yield* tempDir()
      const serveRoot = Path.join(root, "served")
      makeBareRemote({ root: serveRoot, name: "project.git", files: { "README.md": "# project\n" } })
      // a slow remote: every request waits 300 ms, so the five probes below overlap
      const server = yield* GitHttpServer.make({
        root: serveRoot,
        username: "runner",
        password: "right-password",
        beforeServe: () => new Promise((resolve) => setTimeout(resolve, 300))
      })
      const url = server.url("project.git")
      const probe = yield* RepositoryProbe.make(workspaceConfig(Path.join(root, "workspaces"), {
        allowFile: false,
        gitUsername: Option.some("runner"),
        credentials: [{ host: server.host, username: "runner", token: Redacted.make("right-password") }]
      })).pipe(Effect.provide(Redaction.layerWith([])))
      const asked = () => server.requests.filter((r) => r.path.endsWith("/info/refs")).length

      const together = yield* Effect.all(
        Array.from({ length: 5 }, () => probe.defaultBranch({ repoUrl: url })),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(together, Array.from({ length: 5 }, () => Option.some("main")))
      assert.strictEqual(asked(), 1)

      // once answered, the next question goes to the remote again
      assert.deepStrictEqual(yield* probe.defaultBranch({ repoUrl: url }), Option.some("main"))
      assert.strictEqual(asked(), 2)
      // a per-call token is a question of its own
      const withToken = yield* Effect.all([
        probe.defaultBranch({ repoUrl: url, token: Redacted.make("right-password") }),
        probe.defaultBranch({ repoUrl: url, token: Redacted.make("right-password") })
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual(withToken, [Option.some("main"), Option.some("main")])
      assert.strictEqual(asked(), 4)
    }))
})
