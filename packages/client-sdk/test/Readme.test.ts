/**
 * The README's quick start is `examples/quickstart.ts`, verbatim, and it runs: a child process
 * executes the file (through the package's public entry point) against the real service and a
 * real git remote, and must end with the execution COMPLETED and every task merged.
 */
import { makeBareRemote } from "@devteam/runtime/testing/GitRemote"
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminToken, makeService, repoRoot, type Service } from "./fixtures/Service.js"

const sdkRoot = Path.join(repoRoot, "packages/client-sdk")
const example = Path.join(sdkRoot, "examples/quickstart.ts")

let service: Service

beforeAll(async () => {
  service = await makeService({ SCRIPT_TOOL_COMMAND: "echo \"$DEVTEAM_TASK_ID\" >> \"done-$DEVTEAM_TASK_ID.txt\"" })
  await service.start()
}, 120_000)

afterAll(async () => {
  await service?.dispose()
})

const runExample = (env: Readonly<Record<string, string>>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=source", "--import", "tsx", example],
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
    expect(stdout).toMatch(/#\d+ COMPLETED: 3\/3 tasks/)
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
