/**
 * How the suites start the service's production entry point (`packages/server/src/bin.ts`) as a
 * process: `node <bundle>`, where the bundle is the entry point and every workspace source it
 * imports, built by esbuild once per state of the sources and shared by every test process
 * (third-party packages stay ordinary imports from node_modules). Same code as
 * `node --import tsx bin.ts`, without tsx's loader hooks on each of the ~1,000 modules it loads:
 * a start costs about 2 s of CPU instead of 5, and the crash, fault and SDK suites start the
 * service dozens of times.
 */
import * as esbuild from "esbuild"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../../..")

/** The entry point's source. */
export const sourceEntry = Path.join(repoRoot, "packages/server/src/bin.ts")

/** Where bundles live; a started service's command line names a file in it. */
export const bundleDir = Path.join(repoRoot, "node_modules/.cache/devteam-service")

const listFiles = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = Path.join(dir, entry.name)
    return entry.isDirectory() ? listFiles(path) : [path]
  })

/** A digest of every workspace package's sources and manifest: a changed file means a new bundle. */
const sourcesDigest = (): string => {
  const hash = createHash("sha256")
  const packages = Path.join(repoRoot, "packages")
  for (const name of Fs.readdirSync(packages).sort()) {
    const src = Path.join(packages, name, "src")
    const files = [Path.join(packages, name, "package.json"), ...(Fs.existsSync(src) ? listFiles(src) : [])]
    for (const file of files.sort()) {
      hash.update(Path.relative(repoRoot, file)).update("\0").update(Fs.readFileSync(file)).update("\0")
    }
  }
  return hash.digest("hex").slice(0, 16)
}

const build = (): string => {
  const bundle = Path.join(bundleDir, `bin-${sourcesDigest()}.mjs`)
  if (Fs.existsSync(bundle)) return bundle
  Fs.mkdirSync(bundleDir, { recursive: true })
  // Concurrent builders (test workers) each write their own file and rename it into place.
  const partial = `${bundle}.${process.pid}.${Date.now()}.tmp`
  esbuild.buildSync({
    entryPoints: [sourceEntry],
    outfile: partial,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["source"],
    keepNames: true,
    logLevel: "error",
    // Only the workspace's own packages go in; everything else is loaded from node_modules as usual.
    external: externalPackages()
  })
  Fs.renameSync(partial, bundle)
  for (const old of Fs.readdirSync(bundleDir)) {
    const path = Path.join(bundleDir, old)
    if (path !== bundle && Date.now() - Fs.statSync(path).mtimeMs > 3_600_000) Fs.rmSync(path, { force: true })
  }
  return bundle
}

/** Every dependency any workspace package declares, except the workspace packages themselves. */
const externalPackages = (): Array<string> => {
  const names = new Set<string>()
  const manifests = [
    Path.join(repoRoot, "package.json"),
    ...Fs.readdirSync(Path.join(repoRoot, "packages")).map((name) =>
      Path.join(repoRoot, "packages", name, "package.json")
    )
  ]
  for (const manifest of manifests) {
    if (!Fs.existsSync(manifest)) continue
    const parsed: unknown = JSON.parse(Fs.readFileSync(manifest, "utf8"))
    if (typeof parsed !== "object" || parsed === null) continue
    for (const field of ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"]) {
      const deps: unknown = field in parsed ? Reflect.get(parsed, field) : undefined
      if (typeof deps === "object" && deps !== null) { for (const name of Object.keys(deps)) names.add(name) }
    }
  }
  return [...names].filter((name) => !name.startsWith("@devteam/")).flatMap((name) => [name, `${name}/*`])
}

let built: string | undefined

/** The arguments (after `node`) that start the service; the bundle is built on first use. */
export const nodeArgs = (): ReadonlyArray<string> => {
  built ??= build()
  return [built]
}
