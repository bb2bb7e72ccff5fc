/**
 * VERIFY on small throwaway npm projects (no dependencies, a lockfile: `npm ci` works offline),
 * on both sandboxes: a passing project, a failing build (retries recorded, then failure),
 * coverage below the threshold (node's built-in coverage), tsc errors counted (the repository's
 * own TypeScript copied into the project).
 */
import { TaskId } from "@devteam/domain/Ids"
import { Task } from "@devteam/domain/Task"
import type { TaskCriteria } from "@devteam/domain/Task"
import { Sandbox } from "@devteam/runtime/Sandbox"
import * as Verifier from "@devteam/runtime/Verifier"
import { assert, describe, layer } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import {
  dockerLayer,
  localLayer,
  newIds,
  redactor,
  repoRoot,
  tempWorkspace,
  uniqueOwner
} from "./fixtures/sandboxes.js"

const task = (criteria: TaskCriteria) =>
  new Task({
    id: TaskId.make("3.1.1"),
    title: "Verify me",
    description: "",
    type: "atomic",
    dependencies: [],
    files: [],
    criteria,
    phase: 3,
    status: "pending"
  })

const packageJson = (scripts: Record<string, string>) =>
  JSON.stringify({ name: "vp", version: "1.0.0", private: true, scripts }, null, 2)
const lockfile = JSON.stringify({
  name: "vp",
  version: "1.0.0",
  lockfileVersion: 3,
  requires: true,
  packages: { "": { name: "vp", version: "1.0.0" } }
})

const buildOk = "node -e \"require('fs').writeFileSync('built.txt', 'ok')\""

const project = (files: Record<string, string>) =>
  Effect.gen(function*() {
    const dir = yield* tempWorkspace("devteam-verify-")
    yield* Effect.promise(async () => {
      for (const [name, content] of Object.entries(files)) {
        await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true })
        await fs.writeFile(path.join(dir, name), content)
      }
    })
    execFileSync("chmod", ["-R", "a+rwX", dir])
    return dir
  })

/** The repository's TypeScript (compiler + lib files only), installed as the project's `tsc`. */
const installTypeScript = (dir: string) =>
  Effect.promise(async () => {
    const from = path.join(repoRoot, "node_modules/typescript")
    const to = path.join(dir, "node_modules/typescript")
    await fs.mkdir(path.join(to, "lib"), { recursive: true })
    await fs.mkdir(path.join(to, "bin"), { recursive: true })
    await fs.copyFile(path.join(from, "package.json"), path.join(to, "package.json"))
    await fs.copyFile(path.join(from, "bin/tsc"), path.join(to, "bin/tsc"))
    for (const f of await fs.readdir(path.join(from, "lib"))) {
      if (f === "tsc.js" || f === "_tsc.js" || /^lib\..*\.d\.ts$/.test(f)) {
        await fs.copyFile(path.join(from, "lib", f), path.join(to, "lib", f))
      }
    }
    await fs.mkdir(path.join(dir, "node_modules/.bin"), { recursive: true })
    await fs.symlink("../typescript/bin/tsc", path.join(dir, "node_modules/.bin/tsc"))
    execFileSync("chmod", ["-R", "a+rwX", dir])
  })

const verifierLayer = Verifier.layerWith({ commandTimeout: Duration.minutes(2), retries: 2 }).pipe(
  Layer.provide(redactor)
)

const verify = (dir: string, options: Omit<Verifier.VerifyOptions, "sandbox">) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox
    const handle = yield* sandbox.acquire({ ...newIds(), workspacePath: dir })
    const verifier = yield* Verifier.Verifier
    return yield* verifier.verify({ sandbox: handle, ...options })
  })

const suite = (name: string, sandboxLayer: Layer.Layer<Sandbox>) =>
  layer(Layer.merge(sandboxLayer, verifierLayer), { timeout: "180 seconds", excludeTestServices: true })(
    `Verifier on ${name}`,
    (it) => {
      it.scoped("a passing project: npm ci + build, coverage, doc.updated; no secrets in the environment", () =>
        Effect.gen(function*() {
          const dir = yield* project({
            "package.json": packageJson({
              build: buildOk,
              test:
                "node -e \"console.log(Object.keys(process.env).filter((k) => /TOKEN|KEY/.test(k)).join(',') || 'no secrets')\" && node --test --experimental-test-coverage"
            }),
            "package-lock.json": lockfile,
            "lib.mjs": "export const add = (a, b) => a + b\n",
            "test/lib.test.mjs":
              "import { test } from 'node:test'\nimport assert from 'node:assert'\nimport { add } from '../lib.mjs'\ntest('add', () => assert.strictEqual(add(1, 2), 3))\n"
          })
          process.env.GIT_TOKEN = "ghp_verifyMustNotSeeThis000000001"
          yield* Effect.addFinalizer(() => Effect.sync(() => delete process.env.GIT_TOKEN))
          const result = yield* verify(dir, {
            task: task({ "test.coverage": "≥80%", "doc.updated": "task_outcomes.md", "acceptance.1": "free text" }),
            diffFiles: ["lib.mjs", "docs/DevTeam/task_outcomes.md"]
          })
          assert.isTrue(result.success, JSON.stringify(result.attempts.map((a) => a.log)))
          assert.strictEqual(result.attempts.length, 1)
          assert.deepStrictEqual(Object.keys(result.results).sort(), ["doc.updated", "test.coverage"])
          assert.strictEqual(result.results["test.coverage"]?.actual, "lib.mjs 100%")
          assert.deepStrictEqual(result.results["test.coverage"]?.perFile?.map((f) => [f.file, f.actual, f.passed]), [[
            "lib.mjs",
            100,
            true
          ]])
          assert.strictEqual(result.packageManager, "npm")
          assert.strictEqual(result.results["test.coverage"]?.required, "≥80%")
          assert.deepStrictEqual(result.results["doc.updated"]?.files, ["docs/DevTeam/task_outcomes.md"])
          assert.include(result.artifacts.buildOutput, "$ npm ci")
          assert.include(result.artifacts.buildOutput, "$ npm run build")
          assert.include(result.artifacts.testOutput ?? "", "no secrets")
          assert.include(result.artifacts.coverageReport ?? "", "all files")
          assert.strictEqual(yield* Effect.promise(() => fs.readFile(path.join(dir, "built.txt"), "utf8")), "ok")
        }))

      it.scoped("a project without dependencies: a warm run skips the install, a changed package.json installs again", () =>
        Effect.gen(function*() {
          const dir = yield* project({ "package.json": packageJson({ build: buildOk }), "package-lock.json": lockfile })
          const sandbox = yield* Sandbox
          const handle = yield* sandbox.acquire({ ...newIds(), workspacePath: dir })
          const verifier = yield* Verifier.Verifier
          const run = Effect.map(
            verifier.verify({ sandbox: handle, task: task({}), diffFiles: [] }),
            (result) => {
              assert.isTrue(result.success, result.attempts[0]?.log)
              return result.artifacts.buildOutput
            }
          )
          const skipped = "[skipped: package.json and the lockfile are unchanged since the last install]"
          const cold = yield* run
          assert.include(cold, "$ npm ci")
          assert.notInclude(cold, skipped)
          const warm = yield* run
          assert.include(warm, skipped)
          assert.include(warm, "$ npm run build")
          // the stamp is not in the work tree (nothing there for a commit to pick up)
          assert.isFalse(
            yield* Effect.promise(() => fs.access(path.join(dir, "node_modules")).then(() => true, () => false))
          )
          yield* Effect.promise(() =>
            fs.writeFile(path.join(dir, "package.json"), packageJson({ build: buildOk, x: "true" }))
          )
          const changed = yield* run
          assert.notInclude(changed, skipped)
        }))

      it.scoped("a failing build is not retried with the same code: one attempt, the command and exit code named", () =>
        Effect.gen(function*() {
          const dir = yield* project({
            "package.json": packageJson({
              build:
                "node -e \"const n = require('fs').readdirSync('.').filter((f) => f.startsWith('try-')).length; require('fs').writeFileSync('try-' + n, ''); console.error('build broke on try ' + n); process.exit(2)\""
            }),
            "package-lock.json": lockfile
          })
          const result = yield* verify(dir, { task: task({ "type.strict": "0 errors" }), diffFiles: [] })
          assert.isFalse(result.success)
          assert.deepStrictEqual(result.attempts.map((a) => [a.attempt, a.success]), [[1, false]])
          assert.include(result.attempts[0]?.log ?? "", "build broke on try 0")
          assert.strictEqual(result.failedCommand?.name, "build")
          assert.strictEqual(result.failedCommand?.command, "npm run build")
          assert.strictEqual(result.failedCommand?.exitCode, 2)
          assert.include(result.failedCommand?.tail ?? "", "build broke on try 0")
          assert.isFalse(result.results["type.strict"]?.passed)
          assert.include(result.results["type.strict"]?.actual ?? "", "build failed")
          assert.include(result.artifacts.buildOutput, "[exit 2]")
        }))

      it.scoped("coverage below the threshold fails with the measured figure", () =>
        Effect.gen(function*() {
          const dir = yield* project({
            "package.json": packageJson({ test: "node --test --experimental-test-coverage" }),
            "package-lock.json": lockfile,
            "lib.mjs":
              "export const add = (a, b) => a + b\nexport const sub = (a, b) => {\n  const r = a - b\n  return r\n}\nexport const mul = (a, b) => {\n  const r = a * b\n  return r\n}\n",
            "test/lib.test.mjs":
              "import { test } from 'node:test'\nimport assert from 'node:assert'\nimport { add } from '../lib.mjs'\ntest('add', () => assert.strictEqual(add(1, 2), 3))\n"
          })
          const result = yield* verify(dir, { task: task({ "test.coverage": "≥80%" }), diffFiles: [] })
          assert.isFalse(result.success)
          assert.strictEqual(result.attempts.length, 1)
          const coverage = result.results["test.coverage"]
          assert.isFalse(coverage?.passed)
          assert.match(coverage?.actual ?? "", /^\d+(\.\d+)?% \(whole repository/)
          assert.isBelow(Number((coverage?.actual ?? "").split("%")[0]), 80)
        }))

      it.scoped("a json-summary is judged per touched file: actual vs required for each", () =>
        Effect.gen(function*() {
          const dir = yield* project({
            "package.json": packageJson({}),
            "package-lock.json": lockfile
          })
          const summary = (workdir: string) => ({
            total: { lines: { pct: 90 } },
            [`${workdir}/src/a.js`]: { lines: { pct: 95 } },
            [`${workdir}/src/b.js`]: { lines: { pct: 60 } }
          })
          const writer = (workdir: string) =>
            `node -e "require('fs').mkdirSync(process.env.COVERAGE_DIR, { recursive: true }); require('fs').writeFileSync(process.env.COVERAGE_DIR + '/coverage-summary.json', process.argv[1])" '${
              JSON.stringify(summary(workdir))
            }'`
          const sandbox = yield* Sandbox
          const handle = yield* sandbox.acquire({ ...newIds(), workspacePath: dir })
          const verifier = yield* Verifier.Verifier
          const run = (diffFiles: ReadonlyArray<string>) =>
            verifier.verify({
              sandbox: handle,
              task: task({ "test.coverage": "≥85%" }),
              diffFiles,
              testCommand: writer(handle.workdir)
            })
          const onlyA = yield* run(["src/a.js", "test/a.test.js", "README.md"])
          assert.isTrue(onlyA.success, onlyA.attempts[0]?.log)
          assert.strictEqual(onlyA.results["test.coverage"]?.actual, "src/a.js 95%")
          const both = yield* run(["src/a.js", "src/b.js", "src/c.js"])
          assert.isFalse(both.success)
          assert.strictEqual(
            both.results["test.coverage"]?.actual,
            "src/a.js 95%, src/b.js 60%, src/c.js not loaded by any test"
          )
          assert.deepStrictEqual(both.results["test.coverage"]?.perFile?.map((f) => [f.file, f.actual, f.passed]), [
            ["src/a.js", 95, true],
            ["src/b.js", 60, false],
            ["src/c.js", null, false]
          ])
          const none = yield* run(["docs/x.md"])
          assert.strictEqual(none.results["test.coverage"]?.actual, "90% (whole repository: no source file touched)")
        }))

      it.scoped("tsc errors are counted against type.strict", () =>
        Effect.gen(function*() {
          const dir = yield* project({
            "package.json": packageJson({}),
            "tsconfig.json": JSON.stringify({
              compilerOptions: {
                strict: true,
                noEmit: true,
                target: "ES2022",
                lib: ["ES2022"],
                types: [],
                skipLibCheck: true
              },
              include: ["src"]
            }),
            "src/a.ts": "export const n: number = 'one'\nexport const f = (x) => x\n",
            "src/b.ts": "export const ok: string = 'fine'\n"
          })
          yield* installTypeScript(dir)
          const result = yield* verify(dir, {
            task: task({ "type.strict": "0 errors" }),
            commands: [],
            diffFiles: []
          })
          assert.isFalse(result.success)
          assert.strictEqual(result.results["type.strict"]?.actual, "2 errors")
          assert.include(result.artifacts.typeCheckOutput ?? "", "error TS2322")
          yield* Effect.promise(() => fs.writeFile(path.join(dir, "src/a.ts"), "export const n: number = 1\n"))
          const fixed = yield* verify(dir, {
            task: task({ "type.strict": "0 errors" }),
            commands: [],
            diffFiles: []
          })
          assert.isTrue(fixed.success)
          assert.strictEqual(fixed.results["type.strict"]?.actual, "0 errors")
        }))

      it.scoped("doc.updated fails when the diff does not touch the doc; no package.json → no default commands", () =>
        Effect.gen(function*() {
          const dir = yield* project({ "README.md": "# x\n" })
          const result = yield* verify(dir, {
            task: task({ "doc.updated": "task_outcomes.md" }),
            diffFiles: ["src/x.ts"]
          })
          assert.isFalse(result.success)
          assert.deepStrictEqual(result.results["doc.updated"]?.files, [])
          assert.strictEqual(result.artifacts.buildOutput, "")
        }))
    }
  )

describe("Verifier", () => {
  suite("local", localLayer)
  suite("docker", dockerLayer(uniqueOwner("verify")))
})
