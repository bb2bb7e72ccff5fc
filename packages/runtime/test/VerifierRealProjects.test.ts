/**
 * VERIFY on realistic projects whose development dependencies come from the npm registry
 * (fixtures/realProjects.ts): a strict TypeScript library tested with vitest + v8 coverage, and a
 * pnpm project. Local sandbox: the registry is reachable from the host (a Docker sandbox reaches
 * it only through the egress proxy).
 */
import { HostPort } from "@devteam/domain/Egress"
import { TaskId } from "@devteam/domain/Ids"
import { Task } from "@devteam/domain/Task"
import type { TaskCriteria } from "@devteam/domain/Task"
import { Sandbox, type SandboxHandle } from "@devteam/runtime/Sandbox"
import { pnpmProject, tsLibrary, writeFiles } from "@devteam/runtime/testing/RealProjects"
import * as Verifier from "@devteam/runtime/Verifier"
import { assert, describe, layer } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { localLayer, newIds, redactor, tempWorkspace } from "./fixtures/sandboxes.js"

/** VERIFY's window on the sandbox's egress proxy, as the pipeline opens it: the npm registry only. */
const openRegistry = (handle: SandboxHandle) =>
  handle.egress.open({ step: "VERIFY", allow: [new HostPort({ host: "registry.npmjs.org", port: 443 })] })

const task = (criteria: TaskCriteria) =>
  new Task({
    id: TaskId.make("1.1.1"),
    title: "Add sub to src/math.ts",
    description: "",
    type: "atomic",
    dependencies: [],
    files: ["src/math.ts"],
    criteria,
    phase: 1,
    status: "pending"
  })

const verifierLayer = Verifier.layerWith({ commandTimeout: Duration.minutes(5), retries: 2 }).pipe(
  Layer.provide(redactor)
)

describe("Verifier on real projects", () => {
  layer(Layer.merge(localLayer, verifierLayer), { timeout: "600 seconds", excludeTestServices: true })(
    "local",
    (it) => {
      it.scoped(
        "TypeScript library: npm ci → build → vitest coverage per touched file → tsc; a warm run skips the install",
        () =>
          Effect.gen(function*() {
            const dir = yield* tempWorkspace("devteam-real-ts-")
            writeFiles(dir, tsLibrary())
            const sandbox = yield* Sandbox
            const handle = yield* sandbox.acquire({ ...newIds(), workspacePath: dir })
            yield* openRegistry(handle)
            const verifier = yield* Verifier.Verifier
            const criteria = { "test.coverage": "≥80%", "type.strict": "0 errors" }

            // the task adds `sub` with a test: 100% on the touched file
            fs.appendFileSync(
              path.join(dir, "src/math.ts"),
              "export const sub = (a: number, b: number): number => a - b\n"
            )
            fs.writeFileSync(
              path.join(dir, "test/sub.test.ts"),
              "import { expect, test } from \"vitest\"\nimport { sub } from \"../src/math.js\"\n\ntest(\"sub\", () => expect(sub(3, 2)).toBe(1))\n"
            )
            const cold = yield* verifier.verify({
              sandbox: handle,
              task: task(criteria),
              diffFiles: ["src/math.ts", "test/sub.test.ts"]
            })
            const log = cold.attempts[0]?.log ?? ""
            assert.isTrue(cold.success, log)
            assert.include(log, "$ npm ci")
            assert.include(log, "$ npm run build")
            assert.include(log, "vitest run --coverage.enabled=true")
            assert.include(log, "tsc --noEmit -p tsconfig.json")
            assert.strictEqual(cold.results["test.coverage"]?.actual, "src/math.ts 100%")
            assert.strictEqual(cold.results["type.strict"]?.actual, "0 errors")
            assert.isTrue(fs.existsSync(path.join(dir, "dist/math.js")))

            // untested code in the touched file: below the threshold, with the file's figure
            fs.writeFileSync(
              path.join(dir, "src/math.ts"),
              "export const add = (a: number, b: number): number => a + b\nexport const sub = (a: number, b: number): number => a - b\nexport const clamp = (n: number, lo: number, hi: number): number => {\n  if (n < lo) {\n    return lo\n  }\n  if (n > hi) {\n    return hi\n  }\n  return n\n}\n"
            )
            const low = yield* verifier.verify({ sandbox: handle, task: task(criteria), diffFiles: ["src/math.ts"] })
            const lowLog = low.attempts[0]?.log ?? ""
            assert.isFalse(low.success)
            assert.include(lowLog, "[skipped: package.json and the lockfile are unchanged since the last install]")
            assert.notInclude(lowLog, "added ")
            const coverage = low.results["test.coverage"]
            assert.isFalse(coverage?.passed)
            assert.match(coverage?.actual ?? "", /^src\/math\.ts \d+(\.\d+)?%$/)
            const figure = coverage?.perFile?.[0]
            assert.strictEqual(figure?.file, "src/math.ts")
            assert.isBelow(figure?.actual ?? 100, 80)
            assert.strictEqual(coverage?.required, "≥80%")

            // a type error: type.strict names the count, the failing command is tsc with its exit code
            fs.writeFileSync(path.join(dir, "src/bad.ts"), "export const n: number = 'one'\n")
            const typed = yield* verifier.verify({
              sandbox: handle,
              task: task({ "type.strict": "0 errors" }),
              diffFiles: ["src/bad.ts"],
              commands: []
            })
            assert.isFalse(typed.success)
            assert.strictEqual(typed.results["type.strict"]?.actual, "1 error")
            assert.strictEqual(typed.failedCommand?.name, "typecheck")
            assert.notStrictEqual(typed.failedCommand?.exitCode, 0)
            assert.include(typed.failedCommand?.tail ?? "", "TS2322")
          }),
        300_000
      )

      it.scoped(
        "a pnpm repository verifies with pnpm (frozen lockfile); no lockfile installs with a warning",
        () =>
          Effect.gen(function*() {
            const dir = yield* tempWorkspace("devteam-real-pnpm-")
            writeFiles(dir, pnpmProject())
            const sandbox = yield* Sandbox
            const verifier = yield* Verifier.Verifier
            const handle = yield* sandbox.acquire({ ...newIds(), workspacePath: dir })
            yield* openRegistry(handle)
            const result = yield* verifier.verify({ sandbox: handle, task: task({}), diffFiles: [] })
            const log = result.attempts[0]?.log ?? ""
            assert.isTrue(result.success, log)
            assert.strictEqual(result.packageManager, "pnpm")
            assert.include(log, "pnpm@9.15.9 install --frozen-lockfile")
            assert.include(log, "ms loaded")
            assert.isTrue(fs.existsSync(path.join(dir, "node_modules/.pnpm")))
            assert.isUndefined(result.warnings)

            const bare = yield* tempWorkspace("devteam-real-nolock-")
            writeFiles(bare, {
              "package.json": JSON.stringify({
                name: "bare",
                version: "1.0.0",
                private: true,
                scripts: { test: "node -e 0" }
              })
            })
            const bareHandle = yield* sandbox.acquire({ ...newIds(), workspacePath: bare })
            yield* openRegistry(bareHandle)
            const unpinned = yield* verifier.verify({ sandbox: bareHandle, task: task({}), diffFiles: [] })
            assert.isTrue(unpinned.success, unpinned.attempts[0]?.log)
            assert.include(unpinned.attempts[0]?.log ?? "", "$ npm install")
            assert.deepStrictEqual(unpinned.warnings, [
              "no lockfile: dependencies installed with `npm install`, versions not pinned"
            ])
          }),
        300_000
      )
    }
  )
})
