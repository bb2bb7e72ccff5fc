/**
 * The work-tree cleanup a runner runs periodically: idle trees go, recent ones and those an
 * operation holds stay; a task whose tree went away resumes from its published branch.
 */
import * as GitWorkspace from "@devteam/runtime/GitWorkspace"
import { workspaceConfig } from "@devteam/runtime/testing/TestWorkspace"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as WorkspaceJanitor from "../src/WorkspaceJanitor.js"
import { makeRemote, redactorLayer } from "./fixtures/Pipeline.js"

const tree = (root: string, name: string, ageHours: number) => {
  const dir = Path.join(root, name)
  Fs.mkdirSync(Path.join(dir, ".git"), { recursive: true })
  Fs.writeFileSync(Path.join(dir, ".git", "HEAD"), "ref: refs/heads/main\n")
  const at = new Date(Date.now() - ageHours * 3_600_000)
  Fs.utimesSync(dir, at, at)
  return dir
}

describe("WorkspaceJanitor", () => {
  it.scopedLive("removes work trees idle past the limit, keeps the others and what is not a work tree", () =>
    Effect.gen(function*() {
      const { workspaceDir } = yield* makeRemote()
      Fs.mkdirSync(workspaceDir, { recursive: true })
      const idleShared = tree(workspaceDir, "0123456789abcdef0123456789abcdef", 30)
      const idleProject = tree(workspaceDir, "0123456789abcdef0123456789abcdef-0123456789abcdef", 48)
      const recent = tree(workspaceDir, "fedcba9876543210fedcba9876543210-fedcba9876543210", 2)
      const foreign = tree(workspaceDir, "not-a-work-tree", 100)
      const removed = yield* WorkspaceJanitor.sweep("24 hours").pipe(
        Effect.provide(GitWorkspace.layer(workspaceConfig(workspaceDir)).pipe(Layer.provide(redactorLayer)))
      )
      assert.strictEqual(removed, 2)
      assert.isFalse(Fs.existsSync(idleShared))
      assert.isFalse(Fs.existsSync(idleProject))
      assert.isTrue(Fs.existsSync(recent))
      assert.isTrue(Fs.existsSync(foreign))
    }))
})
