import { VerifyConfig } from "@devteam/domain/ExecutionConfig"
import { ProjectId, TaskId } from "@devteam/domain/Ids"
import {
  ImplementCriteria,
  ImplementRequest,
  PrepRequest,
  VerifyFailedResponse,
  VerifyRequest
} from "@devteam/domain/RunnerApi"
import * as PipelineSingleSteps from "@devteam/runner/PipelineSingleSteps"
import { SingleSteps } from "@devteam/runner/SingleSteps"
import { git } from "@devteam/runtime/testing/GitRemote"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel } from "effect"
import {
  dockerOwner,
  dockerReady,
  listen,
  makeRemote,
  pipelineSettings,
  portsLayer,
  projectFiles,
  type SandboxChoice
} from "./fixtures/Pipeline.js"

const withSingleSteps = <A, E, R>(
  body: (url: string) => Effect.Effect<A, E, R>,
  files: Record<string, string> = projectFiles(),
  sandbox: SandboxChoice = "local"
) =>
  Effect.gen(function*() {
    const remote = yield* makeRemote(files)
    const layer = PipelineSingleSteps.layerWith(pipelineSettings).pipe(
      Layer.provideMerge(portsLayer(remote.workspaceDir, sandbox)),
      Layer.merge(Logger.minimumLogLevel(LogLevel.Warning))
    )
    return yield* body(remote.url).pipe(Effect.provide(layer))
  })

const projectId = ProjectId.make("test/single-steps")
const taskId = TaskId.make("1.1.1")

describe("PipelineSingleSteps", () => {
  it.scopedLive("prep: clone + branch, re-run is a no-op; the title comes from the task list when not given", () =>
    withSingleSteps((repoUrl) =>
      Effect.gen(function*() {
        const steps = yield* SingleSteps
        const first = yield* steps.prep(
          projectId,
          new PrepRequest({ repoUrl, taskId, title: "Create the skeleton", idempotencyKey: "k-1" })
        )
        assert.isTrue(first.success)
        assert.strictEqual(first.branch, "task/1-1-1-create-the-skeleton")
        assert.isTrue(first.artifacts.cloned)
        assert.isTrue(first.artifacts.branchCreated)
        assert.strictEqual(first.artifacts.workingDirectory, first.repoPath)
        assert.strictEqual(first.idempotencyKey, "k-1")
        const again = yield* steps.prep(projectId, new PrepRequest({ repoUrl, taskId, title: "Create the skeleton" }))
        assert.strictEqual(again.branch, first.branch)
        assert.isFalse(again.artifacts.cloned)
        assert.isFalse(again.artifacts.branchCreated)
        assert.isNull(again.idempotencyKey)

        const fromList = yield* steps.prep(projectId, new PrepRequest({ repoUrl, taskId: TaskId.make("1.1.2") }))
        assert.strictEqual(fromList.branch, "task/1-1-2-add-a-readme")
        const missing = yield* Effect.flip(
          steps.prep(projectId, new PrepRequest({ repoUrl, taskId: TaskId.make("9.9") }))
        )
        assert.strictEqual(missing._tag, "TaskNotFound")
      })
    ))

  it.scopedLive(
    "implement (aider by default) commits on the branch; verify reports criteria (200 / 422 body), with the project's verify settings",
    () =>
      withSingleSteps((repoUrl) =>
        Effect.gen(function*() {
          const steps = yield* SingleSteps
          const unknown = yield* Effect.flip(steps.implement(
            projectId,
            new ImplementRequest({
              projectId,
              taskId,
              branch: "task/1-1-1-x",
              criteria: new ImplementCriteria({ description: "x" })
            })
          ))
          assert.strictEqual(unknown._tag, "BranchNotFound")

          const prep = yield* steps.prep(projectId, new PrepRequest({ repoUrl, taskId, title: "Write notes" }))
          const notPrepared = yield* Effect.flip(steps.implement(
            projectId,
            new ImplementRequest({
              projectId,
              taskId,
              branch: "task/other",
              criteria: new ImplementCriteria({ description: "x" })
            })
          ))
          assert.strictEqual(notPrepared._tag, "BranchNotFound")

          const implemented = yield* steps.implement(
            projectId,
            new ImplementRequest({
              projectId,
              taskId,
              branch: prep.branch,
              criteria: new ImplementCriteria({
                description: "Write the notes",
                files: ["docs/notes.md"],
                requirements: ["keep it short"]
              })
            })
          )
          assert.isTrue(implemented.success)
          assert.strictEqual(implemented.tool, "aider")
          assert.deepStrictEqual([...implemented.artifacts.filesModified], ["docs/notes.md"])
          assert.isNotNull(implemented.commit)
          assert.strictEqual(
            git(prep.repoPath, ["log", "-1", "--format=%s", prep.branch]).trim(),
            "task 1.1.1: Write notes"
          )
          assert.strictEqual(git(prep.repoPath, ["rev-parse", prep.branch]).trim(), implemented.commit)

          const did = yield* Effect.flip(steps.implement(
            projectId,
            new ImplementRequest({
              projectId,
              taskId,
              branch: prep.branch,
              criteria: new ImplementCriteria({ description: "Nothing. FAKE_AIDER_MODE: noop" })
            })
          ))
          assert.strictEqual(did._tag, "ToolFailed")
          assert.include(did.message, "changed nothing")

          const passed = yield* steps.verify(
            projectId,
            new VerifyRequest({ projectId, taskId, branch: prep.branch, criteria: { "doc.updated": "docs/notes.md" } })
          )
          assert.isTrue(passed.success)
          assert.isTrue(passed.results["doc.updated"]?.passed)
          assert.include(passed.artifacts.buildOutput, "build ok")

          const failed = yield* Effect.flip(steps.verify(
            projectId,
            new VerifyRequest({ projectId, taskId, branch: prep.branch, criteria: { "doc.updated": "CHANGELOG.md" } })
          ))
          assert.instanceOf(failed, VerifyFailedResponse)
          if (failed instanceof VerifyFailedResponse) {
            assert.isFalse(failed.success)
            assert.isFalse(failed.results["doc.updated"]?.passed)
          }

          // the project's verify settings: its commands replace the defaults, its criteria join the
          // request's (the request's own win)
          const project = new VerifyConfig({
            commands: ["echo project-verify-command"],
            criteria: { "doc.updated": "CHANGELOG.md", "test.coverage": "≥50%" }
          })
          const bySettings = yield* Effect.flip(steps.verify(
            projectId,
            new VerifyRequest({ projectId, taskId, branch: prep.branch }),
            project
          ))
          assert.instanceOf(bySettings, VerifyFailedResponse)
          if (bySettings instanceof VerifyFailedResponse) {
            assert.include(bySettings.artifacts.buildOutput, "$ echo project-verify-command")
            assert.notInclude(
              bySettings.artifacts.buildOutput,
              "build ok",
              "the project's commands replace the defaults"
            )
            assert.deepStrictEqual(Object.keys(bySettings.results).sort(), ["doc.updated", "test.coverage"])
          }
          const overridden = yield* steps.verify(
            projectId,
            new VerifyRequest({ projectId, taskId, branch: prep.branch, criteria: { "doc.updated": "docs/notes.md" } }),
            new VerifyConfig({ commands: ["echo project-verify-command"], criteria: { "doc.updated": "CHANGELOG.md" } })
          )
          assert.isTrue(overridden.results["doc.updated"]?.passed)
          assert.include(overridden.artifacts.buildOutput, "$ echo project-verify-command")
        })
      ),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "docker: /verify opens VERIFY's egress window — npm reaches the registry the base branch's .npmrc names, through the proxy",
    () =>
      Effect.gen(function*() {
        yield* dockerReady
        // A real HTTP server on this host stands in for the package registry (it answers npm's ping).
        const hits: Array<string> = []
        const registry = yield* listen((req, res) => {
          hits.push(req.url ?? "")
          res.writeHead(200, { "content-type": "application/json" })
          res.end("{}")
        })
        const owner = dockerOwner("test-single-egress")
        const files = { ...projectFiles(), ".npmrc": `registry=http://registry.test:${registry.port}/\n` }
        return yield* withSingleSteps(
          (repoUrl) =>
            Effect.gen(function*() {
              const steps = yield* SingleSteps
              const prep = yield* steps.prep(projectId, new PrepRequest({ repoUrl, taskId, title: "Ping" }))
              const verified = yield* steps.verify(
                projectId,
                new VerifyRequest({ projectId, taskId, branch: prep.branch }),
                new VerifyConfig({ commands: ["npm ping"] })
              )
              assert.isTrue(verified.success, verified.artifacts.buildOutput)
              assert.isTrue(
                hits.some((u) => u.startsWith("/-/ping")),
                `the registry saw ${hits.join(", ") || "nothing"}`
              )
            }),
          files,
          { docker: owner, egressHosts: { "registry.test": "127.0.0.1" } }
        )
      }),
    { timeout: 180_000 }
  )
})
