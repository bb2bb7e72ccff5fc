/**
 * The README's quick start is `examples/quickstart.ts`, verbatim, and it runs: a child process
 * executes the file (through the package's public entry point) against the real service and a
 * real git remote, and must end with the execution COMPLETED and every task merged, or, on a
 * task that fails, end too (the `execution-completed` frame with FAILED) and print the error.
 */
import { defaultFiles, makeBareRemote } from "@devteam/runtime/testing/GitRemote"
import { execFile, execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminToken, makeService, repoRoot, type Service } from "./fixtures/Service.js"

const sdkRoot = Path.join(repoRoot, "packages/client-sdk")
const example = Path.join(sdkRoot, "examples/quickstart.ts")

let service: Service

beforeAll(async () => {
  // what `npm run build` does for these two packages in a fresh clone
  execFileSync("npx", ["tsc", "-b", "packages/client-sdk/tsconfig.src.json"], { cwd: repoRoot, timeout: 240_000 })
  // A repository with a `fail-<task id>` file makes that task's tool run fail.
  service = await makeService({
    SCRIPT_TOOL_COMMAND:
      "if [ -e \"fail-$DEVTEAM_TASK_ID\" ]; then echo \"task $DEVTEAM_TASK_ID is marked to fail\" >&2; " +
      "exit 3; fi; echo \"$DEVTEAM_TASK_ID\" >> \"done-$DEVTEAM_TASK_ID.txt\""
  })
  await service.start()
}, 360_000)

afterAll(async () => {
  await service?.dispose()
})

const runExample = (env: Readonly<Record<string, string>>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      // plain tsx, as the README says: the package resolves to its compiled dist (built in beforeAll)
      ["--import", "tsx", example],
      { cwd: sdkRoot, env: { ...process.env, ...env }, timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    )
  })

describe("README quick start", () => {
  it("the README shows examples/quickstart.ts verbatim", () => {
    const readme = Fs.readFileSync(Path.join(sdkRoot, "README.md"), "utf8")
    expect(readme).toContain("```ts\n" + Fs.readFileSync(example, "utf8") + "```")
  })

  it("runs against the real service: started, followed live to COMPLETED, history read", async () => {
    const remote = makeBareRemote({ root: Path.join(service.root, "remotes"), name: `${randomUUID().slice(0, 8)}.git` })
    const projectId = `sdk-readme/shop-${randomUUID().slice(0, 8)}`
    const token = adminToken()
    const { code, stderr, stdout } = await runExample({
      DEVTEAM_URL: service.baseUrl,
      DEVTEAM_TOKEN: token,
      PROJECT_ID: projectId,
      REPO_URL: remote,
      DEVTEAM_TOOL: "script"
    })
    expect(code, stderr).toBe(0)
    expect(stdout).toMatch(/^started [0-9a-f-]{36} \(QUEUED\)$/m)
    expect(stdout).toContain("[socket open]")
    expect(stdout).toMatch(/#\d+ IMPLEMENTING IMPLEMENT 1\.1\.1/)
    // a frame before a task is chosen (no task id) prints no blank field
    expect(stdout).toMatch(/^#\d+ SELECTING SELECT \d+%$/m)
    expect(stdout).not.toMatch(/^#\d+ [^\n]* {2}/m)
    expect(stdout).toMatch(/#\d+ COMPLETED \(finished\): 3\/3 tasks/)
    for (const task of ["1.1.1", "1.1.2", "1.2.1"]) {
      expect(stdout).toMatch(new RegExp(`^${task.replaceAll(".", "\\.")} completed task/\\S+ merged [0-9a-f]{8}$`, "m"))
    }
    expect(stdout).toMatch(/final status COMPLETED$/m)
    // frames arrived in seq order
    const seqs = [...stdout.matchAll(/^#(\d+) /gm)].map((m) => Number(m[1]))
    expect(seqs.length).toBeGreaterThan(10)
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    // the token never reached the output
    expect(stdout + stderr).not.toContain(token.split(".")[2])
  }, 150_000)

  it("a failing task: the quick start ends (execution-completed FAILED) and prints the error", async () => {
    const remote = makeBareRemote({
      root: Path.join(service.root, "remotes"),
      name: `${randomUUID().slice(0, 8)}.git`,
      files: { ...defaultFiles, "fail-1.1.2": "this task fails\n" }
    })
    const { code, stderr, stdout } = await runExample({
      DEVTEAM_URL: service.baseUrl,
      DEVTEAM_TOKEN: adminToken(),
      PROJECT_ID: `sdk-readme/failing-${randomUUID().slice(0, 8)}`,
      REPO_URL: remote,
      DEVTEAM_TOOL: "script"
    })
    expect(code, stdout + stderr).toBe(1)
    expect(stdout).toMatch(/#\d+ error in IMPLEMENT: .*/)
    expect(stdout).toMatch(/#\d+ FAILED \(failed\): 1\/3 tasks/)
    expect(stdout).toMatch(/^1\.1\.1 completed task\/\S+ merged [0-9a-f]{8}$/m)
    expect(stdout).toMatch(/^error IMPLEMENT \(tool\): script failed for task 1\.1\.2: script exited with code 3$/m)
    expect(stdout).toMatch(/final status FAILED$/m)
  }, 150_000)

  it("a refused start is reported with the server's typed error", async () => {
    const { code, stderr } = await runExample({
      DEVTEAM_URL: service.baseUrl,
      DEVTEAM_TOKEN: adminToken(),
      PROJECT_ID: "sdk-readme/bad",
      REPO_URL: "ext::sh -c id",
      DEVTEAM_TOOL: "script"
    })
    expect(code).not.toBe(0)
    expect(stderr).toContain("InvalidRepoUrl (400)")
  }, 60_000)
})
