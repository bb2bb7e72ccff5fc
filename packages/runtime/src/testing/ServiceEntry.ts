/**
 * How the suites start the service's production entry point (`packages/server/src/bin.ts`) as a
 * process: `node <bundle>`, where the bundle is the entry point with every module it imports —
 * the workspace's sources and the third-party packages — built by esbuild once per state of the
 * sources and lock file and shared by every test process. Same code as `node --import tsx bin.ts`,
 * without tsx's loader hooks and module resolution on each of the ~1,000 modules it loads: a start
 * costs about 1.4 s of CPU instead of 5 (2.4 with only the workspace bundled), and the crash,
 * fault and SDK suites start the service dozens of times.
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

/**
 * A digest of every workspace package's sources and manifest and of the lock file (the bundle holds
 * the installed third-party code too): a changed file means a new bundle.
 */
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
  const lock = Path.join(repoRoot, "package-lock.json")
  if (Fs.existsSync(lock)) hash.update(Fs.readFileSync(lock))
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
    // A bundled CommonJS package may call `require` (a Node built-in, an external package).
    banner: {
      js:
        "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);"
    },
    external: [...externalPackages]
  })
  Fs.renameSync(partial, bundle)
  for (const old of Fs.readdirSync(bundleDir)) {
    const path = Path.join(bundleDir, old)
    if (path !== bundle && Date.now() - Fs.statSync(path).mtimeMs > 3_600_000) Fs.rmSync(path, { force: true })
  }
  return bundle
}

/**
 * Packages loaded from node_modules as usual instead of bundled: they read files next to their own
 * modules (`__dirname`, `import.meta.url`: PGlite's WebAssembly, dockerode's protocol files,
 * ioredis's package.json) or load native add-ons, which a bundle in another directory cannot find.
 * The bundle lives under the repository's node_modules, so these resolve from there.
 */
const externalPackages = [
  "@electric-sql/pglite",
  "@electric-sql/pglite/*",
  "dockerode",
  "ioredis",
  "msgpackr-extract",
  "cpu-features",
  "ssh2",
  "bufferutil",
  "utf-8-validate",
  "pg-native"
]

let built: string | undefined

/** The arguments (after `node`) that start the service; the bundle is built on first use. */
export const nodeArgs = (): ReadonlyArray<string> => {
  built ??= build()
  return [built]
}
