/**
 * Ready to publish: the compiled package (not the TypeScript sources) is what `npm pack` ships,
 * every export points at a file in the tarball, and plain Node (no `source` condition, no tsx)
 * loads it. `@devteam/domain`, its one workspace dependency, is checked the same way. Installed
 * from those tarballs into an empty project, as a user would, the SDK brings only what it uses:
 * no @effect/cluster, @effect/rpc, @effect/sql or @effect/workflow (those are the runners').
 */
import { Schema } from "effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { repoRoot } from "./fixtures/Service.js"

const run = (command: string, args: ReadonlyArray<string>, cwd = repoRoot): string =>
  execFileSync(command, [...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 240_000 })

const PackOutput = Schema.Array(Schema.Struct({ files: Schema.Array(Schema.Struct({ path: Schema.String })) }))

const packedFiles = (dir: string): ReadonlySet<string> => {
  const output = run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], Path.join(repoRoot, dir))
  const [entry] = Schema.decodeUnknownSync(Schema.parseJson(PackOutput))(output.slice(output.indexOf("[")))
  return new Set((entry?.files ?? []).map((f) => f.path))
}

/** Every concrete file the `exports` map names for the published conditions (`types`, `default`). */
const exportTargets = (dir: string): Array<string> => {
  const manifest: unknown = JSON.parse(Fs.readFileSync(Path.join(repoRoot, dir, "package.json"), "utf8"))
  if (typeof manifest !== "object" || manifest === null || !("exports" in manifest)) return []
  const targets: Array<string> = []
  const exportsField: unknown = manifest.exports
  if (typeof exportsField !== "object" || exportsField === null) return []
  for (const [subpath, target] of Object.entries(exportsField)) {
    if (typeof target === "string") targets.push(target)
    else if (typeof target === "object" && target !== null && !subpath.includes("*")) {
      for (const [condition, file] of Object.entries(target)) {
        if (condition !== "source" && typeof file === "string") targets.push(file)
      }
    }
  }
  return targets.map((t) => t.replace(/^\.\//, ""))
}

/** A user's project with the SDK installed from the packed tarballs (no workspace, no symlinks). */
let installDir: string

beforeAll(() => {
  run("npx", ["tsc", "-b", "packages/client-sdk/tsconfig.src.json"])
  installDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "sdk-install-"))
  const tarball = (dir: string): string => {
    const output = run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", installDir], dir)
    const [entry] = Schema.decodeUnknownSync(Schema.parseJson(PackedName))(output.slice(output.indexOf("[")))
    if (entry === undefined) throw new Error(`npm pack ${dir}: no tarball`)
    return `file:./${entry.filename}`
  }
  const domain = tarball(Path.join(repoRoot, "packages/domain"))
  const sdk = tarball(Path.join(repoRoot, "packages/client-sdk"))
  Fs.writeFileSync(
    Path.join(installDir, "package.json"),
    JSON.stringify({
      name: "sdk-user",
      private: true,
      type: "module",
      dependencies: { "@devteam/client-sdk": sdk },
      // @devteam/domain is not on a registry here: the SDK's dependency on it comes from its tarball
      overrides: { "@devteam/domain": domain }
    })
  )
  run("npm", ["install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"], installDir)
}, 400_000)

afterAll(() => {
  if (installDir !== undefined) Fs.rmSync(installDir, { recursive: true, force: true })
})

const PackedName = Schema.Array(Schema.Struct({ filename: Schema.String }))

interface LsNode {
  readonly version?: string | undefined
  readonly dependencies?: Readonly<Record<string, LsNode>> | undefined
}
const LsNode: Schema.Schema<LsNode> = Schema.Struct({
  version: Schema.optional(Schema.String),
  dependencies: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.suspend(() => LsNode) }))
})

/** Every package name in an `npm ls --all --json` tree. */
const namesIn = (node: LsNode, out: Set<string> = new Set()): Set<string> => {
  for (const [name, child] of Object.entries(node.dependencies ?? {})) {
    out.add(name)
    namesIn(child, out)
  }
  return out
}

describe("publishable package", () => {
  it("npm pack ships the compiled modules, their types, the sources and the README; exports resolve", () => {
    const files = packedFiles("packages/client-sdk")
    for (const module of ["index", "PromiseClient", "DevTeamClient", "DevTeamError", "DevTeamSocket", "Backoff"]) {
      expect(files).toContain(`dist/${module}.js`)
      expect(files).toContain(`dist/${module}.d.ts`)
      expect(files).toContain(`src/${module}.ts`)
    }
    expect(files).toContain("README.md")
    expect(files).toContain("package.json")
    expect([...files].some((f) => f.startsWith("test/") || f.startsWith("build/"))).toBe(false)
    for (const target of exportTargets("packages/client-sdk")) expect(files).toContain(target)

    const domain = packedFiles("packages/domain")
    for (const module of ["Api", "WsFrame", "Errors", "Ids"]) expect(domain).toContain(`dist/${module}.js`)
    for (const target of exportTargets("packages/domain")) expect(domain).toContain(target)
  }, 120_000)

  it("installed from its tarballs, the SDK brings only effect, @effect/platform, ws and the contract", () => {
    const tree = Schema.decodeUnknownSync(Schema.parseJson(LsNode))(run("npm", ["ls", "--all", "--json"], installDir))
    const names = namesIn(tree)
    expect(names).toContain("@devteam/client-sdk")
    expect(names).toContain("@devteam/domain")
    expect(names).toContain("effect")
    expect(names).toContain("@effect/platform")
    for (
      const runnerOnly of ["@effect/cluster", "@effect/rpc", "@effect/sql", "@effect/workflow", "@devteam/runtime"]
    ) {
      expect(names, runnerOnly).not.toContain(runnerOnly)
      expect(Fs.existsSync(Path.join(installDir, "node_modules", runnerOnly)), runnerOnly).toBe(false)
    }
    // nothing is linked back into the repository: these are the tarballs' files
    expect(Fs.lstatSync(Path.join(installDir, "node_modules/@devteam/client-sdk")).isSymbolicLink()).toBe(false)
  }, 60_000)

  it("plain node loads the compiled package (no source condition, no TypeScript loader)", () => {
    const script = `
      const sdk = await import("@devteam/client-sdk")
      const client = sdk.createDevTeamClient({ baseUrl: "http://127.0.0.1:1" })
      const error = await client.status("acme/x", {}).catch((e) => e)
      console.log(JSON.stringify({
        exports: Object.keys(sdk).sort(),
        methods: Object.keys(client).length,
        error: { tag: error._tag, status: error.status, isError: sdk.isDevTeamError(error) },
        socket: typeof sdk.DevTeamSocket.connect,
        url: sdk.DevTeamSocket.socketUrl("https://example.com/base").toString()
      }))`
    const output = run(process.execPath, ["--input-type=module", "-e", script], installDir)
    const result: unknown = JSON.parse(output)
    expect(result).toEqual({
      exports: [
        "Backoff",
        "DevTeamClient",
        "DevTeamError",
        "DevTeamSocket",
        "RequestHeaders",
        "createDevTeamClient",
        "isDevTeamError"
      ],
      methods: 29,
      error: { tag: "NetworkError", status: 0, isError: true },
      socket: "function",
      url: "wss://example.com/base/ws/devteam"
    })
  }, 60_000)
})
