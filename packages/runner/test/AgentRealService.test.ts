/**
 * The pipeline on a realistic JavaScript service with a real coding agent: the real `claude`
 * binary (inside the sandbox image) makes every edit with its own Read / Edit / Write tool calls,
 * as the scripted Anthropic server (ScriptedModel) tells it; the model reaches the agent only
 * through the sandbox's egress proxy. The repository is a node:http service managed with pnpm
 * (pnpm-lock.yaml; pnpm run through npx at the `packageManager` version), tested with node:test
 * and measured with c8 — real development dependencies from the npm registry, installed by VERIFY
 * inside the container (network none) through VERIFY's egress allow-list: the registry only.
 *
 * One execution of a five-task list with dependencies covers: every task completes; 1.1.2's first
 * implementation fails its tests and passes with the second prompt, which holds the failure;
 * 1.1.3's first implementation leaves its file below the coverage threshold (the per-file
 * figure) and passes once the agent adds the missing tests; 2.1.2 needs no change.
 */
import { remoteFile } from "@devteam/runtime/testing/GitRemote"
import { jsService } from "@devteam/runtime/testing/RealProjects"
import * as ScriptedModel from "@devteam/runtime/testing/ScriptedModel"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { dockerSetup, edit, firstPrompt, fixHeading, modelKey, read, runRealProject, write } from "./fixtures/Agent.js"
import { checkedLines, mergesOn, newProjectId } from "./fixtures/E2E.js"
import { dockerReady } from "./fixtures/Pipeline.js"

const taskList = `# Tasks

Phase 1: Handlers

- 1.1 Endpoints
  - [ ] 1.1.1 Add a version handler to src/handlers.js with a test
    • test.coverage: ≥80%
  - [ ] 1.1.2 Add an echo handler to src/handlers.js with a test
    • test.coverage: ≥80%
  - [ ] 1.1.3 Add query validation in src/validate.js with a test
    • test.coverage: ≥80%

Phase 2: Wiring (Dependencies: [1])

- 2.1 Routes
  - [ ] 2.1.1 Route /version and /echo in src/routes.js with a test
    • test.coverage: ≥80%
  - [ ] 2.1.2 Run the test suite and confirm it passes
`

const taskIds = ["1.1.1", "1.1.2", "1.1.3", "2.1.1", "2.1.2"]

const { text } = ScriptedModel
const testFile = (imports: string, from: string, body: ReadonlyArray<string>) =>
  [
    `import { test } from 'node:test'`,
    `import assert from 'node:assert/strict'`,
    `import { ${imports} } from '${from}'`,
    ""
  ]
    .concat(body, [""]).join("\n")

const healthLine = "export const health = () => ({ status: 200, body: { ok: true } })\n"
const versionLine = "export const version = () => ({ status: 200, body: { version: '1.0.0' } })\n"
const buggyEcho =
  "export const echo = (query) => ({ status: 200, body: { echo: (query.get('msg') ?? '').toUpperCase() } })\n"
const validate = [
  "export const validateMessage = (query) => {",
  "  const msg = query.get('msg')",
  "  if (msg === null) {",
  "    return { ok: false, error: 'msg is required' }",
  "  }",
  "  if (msg.length > 100) {",
  "    return { ok: false, error: 'msg is too long' }",
  "  }",
  "  if (/[<>]/.test(msg)) {",
  "    return { ok: false, error: 'msg must not contain markup' }",
  "  }",
  "  return { ok: true, value: msg }",
  "}",
  ""
].join("\n")
const routes = [
  "import { echo, health, version } from './handlers.js'",
  "import { validateMessage } from './validate.js'",
  "",
  "export const routes = {",
  "  'GET /health': health,",
  "  'GET /version': version,",
  "  'GET /echo': (query) => {",
  "    const checked = validateMessage(query)",
  "    return checked.ok ? echo(query) : { status: 400, body: { error: checked.error } }",
  "  }",
  "}",
  ""
].join("\n")

/** What the model has the agent do per task: step i once the conversation holds i tool results. */
const plans: Record<string, ReadonlyArray<ScriptedModel.ScriptStep>> = {
  "1.1.1": [
    read("src/handlers.js"),
    edit("src/handlers.js", healthLine, healthLine + versionLine),
    write(
      "test/version.test.js",
      testFile("version", "../src/handlers.js", [
        "test('version', () => assert.deepEqual(version(), { status: 200, body: { version: '1.0.0' } }))"
      ])
    ),
    text("Added the version handler with its test.")
  ],
  // the first implementation has a bug its own test catches
  "1.1.2": [
    read("src/handlers.js"),
    edit("src/handlers.js", versionLine, versionLine + buggyEcho),
    write(
      "test/echo.test.js",
      testFile("echo", "../src/handlers.js", [
        "test('echo returns the message as given', () =>",
        "  assert.deepEqual(echo(new URLSearchParams('msg=hello')), { status: 200, body: { echo: 'hello' } }))"
      ])
    ),
    text("Added the echo handler with its test.")
  ],
  // the first implementation tests only the happy path: its file is below the threshold
  "1.1.3": [
    write("src/validate.js", validate),
    write(
      "test/validate.test.js",
      testFile("validateMessage", "../src/validate.js", [
        "test('a plain message is valid', () =>",
        "  assert.deepEqual(validateMessage(new URLSearchParams('msg=hi')), { ok: true, value: 'hi' }))"
      ])
    ),
    text("Added query validation with a test.")
  ],
  "2.1.1": [
    read("src/routes.js"),
    write("src/routes.js", routes),
    write(
      "test/routes.test.js",
      testFile("routes", "../src/routes.js", [
        "const get = (path, query = '') => routes[`GET ${path}`](new URLSearchParams(query))",
        "test('version route', () => assert.equal(get('/version').body.version, '1.0.0'))",
        "test('echo route', () => assert.deepEqual(get('/echo', 'msg=hi'), { status: 200, body: { echo: 'hi' } }))",
        "test('echo route refuses markup', () => assert.equal(get('/echo', 'msg=<b>').status, 400))"
      ])
    ),
    text("Routed /version and /echo, with tests.")
  ],
  "2.1.2": [text("I ran nothing new: the suite already passes and the task needs no change.")]
}

/** The second attempt, told what failed. */
const fixPlans: Record<string, ReadonlyArray<ScriptedModel.ScriptStep>> = {
  "1.1.2": [
    read("src/handlers.js"),
    edit("src/handlers.js", "(query.get('msg') ?? '').toUpperCase()", "query.get('msg') ?? ''"),
    text("Fixed echo: it returns the message unchanged.")
  ],
  "1.1.3": [
    write(
      "test/validate-errors.test.js",
      testFile("validateMessage", "../src/validate.js", [
        "const check = (query) => validateMessage(new URLSearchParams(query))",
        "test('msg is required', () => assert.equal(check('').error, 'msg is required'))",
        "test('msg is bounded', () => assert.equal(check(`msg=${'x'.repeat(101)}`).error, 'msg is too long'))",
        "test('msg has no markup', () => assert.equal(check('msg=<b>').error, 'msg must not contain markup'))"
      ])
    ),
    text("Added tests for every rejected message.")
  ]
}

describe("A realistic JavaScript service (pnpm, node:test, c8) implemented by claude in the sandbox image", () => {
  it.scopedLive(
    "five tasks with dependencies: a test failure fixed from the second prompt, a coverage gap with its per-file figure, a no-change task; VERIFY installs through the registry-only egress window",
    () =>
      Effect.gen(function*() {
        yield* dockerReady
        const { entries, final, implemented, model, remote, verdicts } = yield* runRealProject({
          projectId: newProjectId("real-service"),
          files: jsService(),
          taskList,
          plans,
          fixPlans,
          setup: dockerSetup
        })

        // every task completed, in order, merged, pushed and ticked
        assert.deepStrictEqual(final.completedInExecution.map(String), taskIds)
        assert.strictEqual(mergesOn(remote.bare).length, taskIds.length - 1, "the no-change task merges nothing")
        assert.strictEqual(checkedLines(remoteFile(remote.bare, "docs/DevTeam/tasks_list.md")).length, 5)
        assert.notInclude(remoteFile(remote.bare, "src/handlers.js"), "toUpperCase")
        assert.include(remoteFile(remote.bare, "src/routes.js"), "'GET /echo'")
        assert.include(remoteFile(remote.bare, "test/validate-errors.test.js"), "msg is too long")

        // the verdicts: two failures, each followed by a pass on the second attempt
        assert.deepStrictEqual(
          verdicts.map((r) => `${r.taskId}:${r.success ? "ok" : "failed"}`),
          ["1.1.1:ok", "1.1.2:failed", "1.1.2:ok", "1.1.3:failed", "1.1.3:ok", "2.1.1:ok", "2.1.2:ok"]
        )
        for (const r of verdicts) assert.strictEqual(r.packageManager, "pnpm")
        const [first, testsFailed, , coverageLow] = verdicts
        // VERIFY installed with pnpm inside the container, from the registry through the egress
        // proxy (the only host on its list); later verifications reuse the install
        const firstLog = first?.attempts[0]?.log ?? ""
        assert.include(firstLog, "npx --yes pnpm@9.15.9 install --frozen-lockfile")
        assert.include(firstLog, "c8 10.1.3")
        assert.deepStrictEqual(first?.egress?.allowList, ["registry.npmjs.org:443"])
        assert.isTrue(first?.egress?.enforced)
        assert.isAbove(first?.egress?.connections ?? 0, 0)
        assert.strictEqual(first?.egress?.denied, 0)
        assert.deepStrictEqual(first?.egress?.targets.map((t) => t.target), ["registry.npmjs.org:443"])
        assert.include(verdicts[5]?.attempts[0]?.log ?? "", "[skipped: package.json and the lockfile are unchanged")

        // 1.1.2: its test failed; the agent's second prompt holds the failing command and its output
        assert.strictEqual(testsFailed?.failedCommand?.name, "test")
        assert.include(testsFailed?.failedCommand?.command ?? "", "node_modules/.bin/c8")
        assert.include(testsFailed?.results["test.coverage"]?.actual ?? "", "(tests failed: exit 1)")
        const fixPrompt = firstPrompt(model, "1.1.2", true)
        assert.include(fixPrompt, `${fixHeading} (attempt 1 of 2)`)
        assert.include(fixPrompt, "Failing command: `node_modules/.bin/c8")
        assert.include(fixPrompt, "# fail 1")
        assert.include(fixPrompt, "'HELLO'")

        // every prompt carries the task's context: where it sits, the repository's guidance, and
        // for phase 2 what its dependencies changed
        const routesPrompt = firstPrompt(model, "2.1.1", false)
        assert.include(routesPrompt, "Phase: 2 Wiring")
        assert.include(routesPrompt, "### AGENTS.md")
        assert.include(routesPrompt, "## What its dependencies changed")
        assert.match(
          routesPrompt,
          /- 1\.1\.3 Add query validation in src\/validate\.js with a test\n(?: +.*\n)*? +src\/validate\.js +\| +\d+ \+/
        )

        // 1.1.3: the touched file's own figure, below the threshold, in the verdict and the prompt
        const coverage = coverageLow?.results["test.coverage"]
        assert.isFalse(coverage?.passed)
        assert.match(coverage?.actual ?? "", /^src\/validate\.js \d+(\.\d+)?%$/)
        const figure = coverage?.perFile?.find((f) => f.file === "src/validate.js")
        assert.isBelow(figure?.actual ?? 100, 80)
        assert.isUndefined(coverageLow?.failedCommand, "the tests passed: only the figure failed")
        const coveragePrompt = firstPrompt(model, "1.1.3", true)
        assert.match(coveragePrompt, /- src\/validate\.js: \d+(\.\d+)?% \(required ≥80%\) — below/)
        assert.strictEqual(verdicts[4]?.results["test.coverage"]?.actual, "src/validate.js 100%")

        // 2.1.2: the agent changed nothing; the task completed with an empty artifact and a note
        const noChange = implemented.at(-1)
        assert.strictEqual(noChange?.taskId, "2.1.2")
        assert.deepStrictEqual(noChange?.outputs.filesModified, [])
        assert.include(noChange?.note ?? "", "needed no change")

        // the agent's own tool calls made the edits: seven agent runs (five tasks, two fixes)
        assert.strictEqual(implemented.length, 7)
        for (const artifact of implemented) assert.strictEqual(artifact.tool, "claude-code")
        assert.deepStrictEqual(implemented[0]?.outputs.filesModified, ["src/handlers.js", "test/version.test.js"])
        assert.notInclude(JSON.stringify(entries), modelKey, "the model key never reaches the journal")
      }),
    { timeout: 900_000 }
  )
})
