/**
 * A real coding agent end to end: the real `claude` binary (`@anthropic-ai/claude-code`; from
 * node_modules with the local sandbox, from the sandbox image with docker) implements each task
 * of a task list with its own Write tool calls, and the real pipeline verifies, merges, pushes
 * and ticks it. No model provider is reachable from here: the model is the scripted Anthropic
 * Messages server (ScriptedModel, a real HTTP server with streaming), which also records every
 * request, so the tests see what the agent was told and that no secret was sent.
 */
import { Journal } from "@devteam/runtime/Journal"
import { remoteFile } from "@devteam/runtime/testing/GitRemote"
import * as ScriptedModel from "@devteam/runtime/testing/ScriptedModel"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { agentLayer, type AgentSetup, claudeExecution, dockerSetup, localSetup, modelKey } from "./fixtures/Agent.js"
import {
  checkedLines,
  finished,
  fourTaskList,
  fourTasks,
  initializePayload,
  mergesOn,
  newProjectId,
  poll,
  projectClient
} from "./fixtures/E2E.js"
import { canarySecret, dockerReady, makeRemote, projectFiles } from "./fixtures/Pipeline.js"

const get = { correlationId: "agent-e2e" }

const taskIdOf = (request: ScriptedModel.RecordedModelRequest): string =>
  /# Task (\S+):/.exec(ScriptedModel.promptText(request))?.[1] ?? "unknown"

/**
 * The agent's side of each task: a 429 storm on the first three model calls, then per task a
 * `Write` of notes/task-<id>.txt and a final summary once the tool result is back.
 */
const perTaskScript = (storm: number, probe?: string): ScriptedModel.Script => (request, turn) => {
  if (turn < storm) return ScriptedModel.rateLimited(1)
  const id = taskIdOf(request)
  // With a probe, the first task first runs it through the agent's Bash tool.
  const done = ScriptedModel.toolResultCount(request) - (probe !== undefined && id === "1.1.1" ? 1 : 0)
  if (done < 0 && probe !== undefined) return ScriptedModel.toolUse("Bash", { command: probe })
  return done === 0
    ? ScriptedModel.toolUse("Write", { file_path: `notes/task-${id}.txt`, content: `done ${id}\n` })
    : ScriptedModel.text(`Wrote notes/task-${id}.txt for task ${id}.`)
}

/**
 * Run by the agent inside the container: reach the off-list server through the egress proxy
 * (plain-HTTP proxying, as HTTP_PROXY says) and directly (no route: network none).
 */
const reachOffList = (port: string) =>
  `node -e '
const http = require("http"), net = require("net");
const proxy = new URL(process.env.HTTP_PROXY);
http.get({ host: proxy.hostname, port: proxy.port, path: "http://other.test:${port}/v1/models", headers: { host: "other.test:${port}" } },
  (r) => { console.log("via proxy: HTTP " + r.statusCode); r.resume() }).on("error", (e) => console.log("via proxy: " + e.code));
net.connect(${port}, "127.0.0.1").on("connect", () => console.log("direct: " + "CONNECTED")).on("error", (e) => console.log("direct: " + e.code));
'`

/** The model env must not reach VERIFY: its command fails if it sees any of it. */
const verifyCommands = ["npm run build", "test -z \"$ANTHROPIC_API_KEY$ANTHROPIC_BASE_URL\""]

const fourTasksByTheAgent = (
  setup: (model: ScriptedModel.ScriptedModel) => AgentSetup,
  offList?: ScriptedModel.ScriptedModel
) =>
  Effect.gen(function*() {
    const probe = offList === undefined ? undefined : reachOffList(new URL(offList.baseUrl).port)
    const model = yield* ScriptedModel.make({ script: perTaskScript(3, probe) })
    const remote = yield* makeRemote(projectFiles(fourTaskList))
    process.env.GIT_TOKEN = canarySecret
    yield* Effect.addFinalizer(() => Effect.sync(() => delete process.env.GIT_TOKEN))
    yield* Effect.gen(function*() {
      const journal = yield* Journal
      const projectId = newProjectId("agent")
      const project = yield* projectClient(projectId)
      const payload = initializePayload(claudeExecution(remote.url, verifyCommands))
      yield* project.Initialize(payload)
      const final = yield* poll(
        project.GetState(get),
        finished,
        "240 seconds",
        "200 millis"
      )
      assert.strictEqual(final.status, "COMPLETED", final.error?.message ?? "")
      assert.deepStrictEqual(final.completedInExecution.map(String), fourTasks.map((t) => t.id))
      // Each task's file, written by the agent's own Write call, merged and pushed; every task ticked.
      assert.strictEqual(mergesOn(remote.bare).length, 4)
      for (const task of fourTasks) {
        assert.strictEqual(remoteFile(remote.bare, `notes/task-${task.id}.txt`), `done ${task.id}\n`)
      }
      assert.deepStrictEqual(
        checkedLines(remoteFile(remote.bare, "docs/DevTeam/tasks_list.md")),
        fourTasks.map((t) => `- [x] ${t.id} ${t.title}`)
      )
      // The journal keeps what the agent reported: its final message, tokens and cost.
      const entries = yield* journal.read(projectId, 0, 10_000)
      const implemented = entries.flatMap((e) => e.event._tag === "ImplementCompleted" ? [e.event.artifact] : [])
      assert.strictEqual(implemented.length, 4)
      implemented.forEach((artifact, i) => {
        const id = fourTasks[i]?.id ?? ""
        assert.strictEqual(artifact.tool, "claude-code")
        assert.strictEqual(artifact.finalMessage, `Wrote notes/task-${id}.txt for task ${id}.`)
        assert.isAbove(artifact.usage?.outputTokens ?? 0, 0)
        assert.isAbove(artifact.costUsd ?? 0, 0)
        assert.deepStrictEqual(artifact.outputs.filesModified, [`notes/task-${id}.txt`])
      })
      // On the wire: the 429 storm, then two agent turns per task, each prompt naming its task.
      const turns = model.requests.filter((r) => r.scripted)
      assert.strictEqual(turns.filter((r) => r.step?._tag === "RateLimited").length, 3)
      for (const task of fourTasks) {
        const forTask = turns.filter((r) => r.step?._tag !== "RateLimited" && taskIdOf(r) === task.id)
        assert.strictEqual(forTask.length, offList !== undefined && task.id === "1.1.1" ? 3 : 2, task.id)
        const [first] = forTask
        assert.include(first === undefined ? "" : ScriptedModel.promptText(first), task.title)
      }
      for (const r of model.requests) {
        assert.strictEqual(r.headers["x-api-key"], modelKey)
        assert.notInclude(JSON.stringify(r), canarySecret, "the git token never reaches the model")
      }
      assert.notInclude(JSON.stringify(entries), modelKey, "the model key never reaches the journal")
      if (offList !== undefined) {
        // The agent's own attempts to reach a host off IMPLEMENT's list: refused by the proxy, no route
        // without it; the off-list server saw nothing.
        const after = turns.map(ScriptedModel.promptText).find((t) => t.includes("via proxy:")) ?? ""
        assert.include(after, "via proxy: HTTP 403")
        assert.match(after, /direct: E[A-Z]+/)
        assert.notInclude(after, "direct: CONNECTED", "(the command's own text never contains this)")
        assert.deepStrictEqual(offList.requests, [])
      }
    }).pipe(Effect.provide(agentLayer(remote.workspaceDir, setup(model))))
  })

const failingModel = (setup: (model: ScriptedModel.ScriptedModel) => AgentSetup) =>
  Effect.gen(function*() {
    const model = yield* ScriptedModel.make({ script: [], whenExhausted: ScriptedModel.serverError(500) })
    const remote = yield* makeRemote(projectFiles(fourTaskList))
    yield* Effect.gen(function*() {
      const project = yield* projectClient(newProjectId("agent-fails"))
      yield* project.Initialize(initializePayload(claudeExecution(remote.url, verifyCommands)))
      const final = yield* poll(
        project.GetState(get),
        finished,
        "240 seconds",
        "200 millis"
      )
      assert.strictEqual(final.status, "FAILED")
      assert.strictEqual(final.error?.category, "tool")
      assert.strictEqual(final.error?.step, "IMPLEMENT")
      assert.strictEqual(
        final.error?.message,
        "claude-code failed for task 1.1.1: claude-code ended with an error (success, model API status 500): " +
          "API Error: 500 {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"scripted server error 500\"}} · check status.claude.com"
      )
      assert.strictEqual(mergesOn(remote.bare).length, 0)
      assert.isAbove(model.requests.filter((r) => r.scripted).length, 1, "the agent retried before giving up")
    }).pipe(
      Effect.provide(agentLayer(remote.workspaceDir, { ...setup(model), extraEnv: { CLAUDE_CODE_MAX_RETRIES: "1" } }))
    )
  })

// The two local runs side by side: most of their time is the agent's waits (429 retry-after, the
// failing model's retries), not CPU. (The docker run stays alone: it changes the process's umask.)
describe.concurrent("A real coding agent end to end (claude, local sandbox, scripted model on loopback)", () => {
  it.scopedLive(
    "4 tasks implemented by the agent's own Write calls through a 429 storm: verified, merged, pushed, ticked",
    () => fourTasksByTheAgent(localSetup),
    { timeout: 300_000 }
  )

  it.scopedLive(
    "a model that keeps failing ends the execution FAILED, category tool, with the API error as the reason",
    () => failingModel(localSetup),
    { timeout: 300_000 }
  )
})

describe("A real coding agent end to end (claude in the sandbox image, model only through the egress proxy)", () => {
  const docker = (model: ScriptedModel.ScriptedModel): AgentSetup => dockerSetup(model, { "other.test": "127.0.0.1" })

  it.scopedLive(
    "4 tasks by the agent inside the container through a 429 storm; an off-list host is refused and records nothing",
    () =>
      Effect.gen(function*() {
        yield* dockerReady
        const offList = yield* ScriptedModel.make({ script: [] })
        yield* fourTasksByTheAgent(docker, offList)
      }),
    { timeout: 400_000 }
  )
})
