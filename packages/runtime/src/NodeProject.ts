/**
 * What VERIFY needs to know about a Node/TypeScript repository, read from its files: the package
 * manager (from the lockfile), the scripts, the test runner (for coverage), the TypeScript
 * configuration — and the commands that follow from them.
 *
 * pnpm and yarn run through `npx` at the version of `package.json`'s `packageManager` field
 * (default pnpm@9, yarn@1): npm checks the package's integrity against the registry, and the
 * download lands in the npm cache that VERIFY keeps per project. (Node 20's corepack cannot verify
 * the registry's current signing keys, so it is not used.)
 */
import { Option, Schema } from "effect"

export type PackageManager = "npm" | "pnpm" | "yarn"

export type CoverageRunner = "vitest" | "jest" | "c8" | "nyc" | "node"

const PackageJson = Schema.Struct({
  scripts: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  dependencies: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  devDependencies: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  packageManager: Schema.optional(Schema.String)
})
const decodePackageJson = Schema.decodeUnknownOption(Schema.parseJson(PackageJson))

/** The files whose presence decides the plan (checked in the workspace). */
export const probedFiles = [
  "package.json",
  "package-lock.json",
  "npm-shrinkwrap.json",
  "pnpm-lock.yaml",
  "yarn.lock",
  ".yarnrc.yml",
  "tsconfig.json",
  "node_modules/.bin/tsc"
] as const

export interface ProjectFacts {
  /** Which of `probedFiles` exist. */
  readonly files: ReadonlySet<string>
  /** package.json's text, when there is one. */
  readonly packageJson: string | undefined
  /** tsconfig.json's text, when there is one. */
  readonly tsconfig: string | undefined
}

export interface NodeProject {
  readonly packageManager: PackageManager
  /** The lockfile the install honours; none → `npm install` (versions not pinned). */
  readonly lockfile: string | undefined
  /** From package.json's `packageManager` (`pnpm@9.15.0` → `9.15.0`). */
  readonly packageManagerVersion: string | undefined
  readonly scripts: Readonly<Record<string, string>>
  readonly coverageRunner: CoverageRunner
  /** tsconfig.json exists. */
  readonly typescript: boolean
  /** tsconfig.json is a solution (references, no own files): checked with `tsc -b`. */
  readonly solution: boolean
  /** The project's own tsc is installed (node_modules/.bin/tsc). */
  readonly tscInstalled: boolean
  readonly warnings: ReadonlyArray<string>
}

/** `pnpm@9.15.0+sha…` → `9.15.0`. */
const versionOf = (spec: string | undefined, name: string): string | undefined => {
  if (spec === undefined || !spec.startsWith(`${name}@`)) return undefined
  const version = spec.slice(name.length + 1).split("+")[0] ?? ""
  return /^[0-9A-Za-z.-]+$/.test(version) ? version : undefined
}

/** Facts → the project; undefined when there is no package.json (nothing to install or run). */
export const analyse = (facts: ProjectFacts): NodeProject | undefined => {
  if (facts.packageJson === undefined) return undefined
  const decoded = decodePackageJson(facts.packageJson)
  const pkg: typeof PackageJson.Type = Option.getOrElse(decoded, () => ({}))
  const warnings: Array<string> = []
  if (Option.isNone(decoded)) warnings.push("package.json could not be read: no scripts detected")
  const deps = { ...pkg.dependencies, ...pkg.devDependencies }
  const has = (f: string) => facts.files.has(f)
  const declared = pkg.packageManager?.split("@")[0]
  const [packageManager, lockfile]: [PackageManager, string | undefined] = has("pnpm-lock.yaml")
    ? ["pnpm", "pnpm-lock.yaml"]
    : has("yarn.lock")
    ? ["yarn", "yarn.lock"]
    : has("package-lock.json")
    ? ["npm", "package-lock.json"]
    : has("npm-shrinkwrap.json")
    ? ["npm", "npm-shrinkwrap.json"]
    : [declared === "pnpm" || declared === "yarn" ? declared : "npm", undefined]
  if (lockfile === undefined) {
    warnings.push(`no lockfile: dependencies installed with \`${packageManager} install\`, versions not pinned`)
  }
  const coverageRunner: CoverageRunner = "vitest" in deps
    ? "vitest"
    : "jest" in deps
    ? "jest"
    : "c8" in deps
    ? "c8"
    : "nyc" in deps
    ? "nyc"
    : "node"
  const tsconfig = facts.tsconfig ?? ""
  // A solution config lists references and compiles no files of its own (`"files": []`).
  const solution = /"references"\s*:\s*\[\s*\{/.test(tsconfig) && /"files"\s*:\s*\[\s*\]/.test(tsconfig)
  return {
    packageManager,
    lockfile,
    scripts: pkg.scripts ?? {},
    coverageRunner,
    typescript: has("tsconfig.json"),
    solution,
    tscInstalled: has("node_modules/.bin/tsc"),
    warnings,
    packageManagerVersion: versionOf(pkg.packageManager, packageManager)
  }
}

/** How the package manager is invoked (`npm`, `npx --yes pnpm@9`, …). */
export const managerCommand = (project: NodeProject): string => {
  switch (project.packageManager) {
    case "npm":
      return "npm"
    case "pnpm":
      return `npx --yes pnpm@${project.packageManagerVersion ?? "9"}`
    case "yarn": {
      const version = project.packageManagerVersion
      return version !== undefined && !version.startsWith("1.")
        ? `npx --yes -p @yarnpkg/cli-dist@${version} yarn`
        : `npx --yes yarn@${version ?? "1"}`
    }
  }
}

export const installCommand = (project: NodeProject): string => {
  const pm = managerCommand(project)
  if (project.lockfile === undefined) return `${pm} install`
  switch (project.packageManager) {
    case "npm":
      return "npm ci"
    case "pnpm":
      return `${pm} install --frozen-lockfile`
    case "yarn":
      return pm.includes("@yarnpkg/cli-dist") ? `${pm} install --immutable` : `${pm} install --frozen-lockfile`
  }
}

export const runScript = (project: NodeProject, script: string): string => `${managerCommand(project)} run ${script}`

/**
 * The test run that writes an istanbul json-summary (and a text table) to `reportDir`: the
 * runner's own options (vitest, jest), or c8/nyc around the test script. Without any of them, the
 * test script runs as is and its output is searched for a coverage table (node's
 * `--experimental-test-coverage`).
 */
export const coverageCommand = (project: NodeProject, reportDir: string): string => {
  const dir = shellQuote(reportDir)
  const test = runScript(project, "test")
  switch (project.coverageRunner) {
    case "vitest":
      return `node_modules/.bin/vitest run --coverage.enabled=true --coverage.reporter=json-summary --coverage.reporter=text --coverage.reportsDirectory=${dir}`
    case "jest":
      return `node_modules/.bin/jest --coverage --coverageReporters=json-summary --coverageReporters=text --coverageDirectory=${dir}`
    case "c8":
      return `node_modules/.bin/c8 --reporter=json-summary --reporter=text --report-dir=${dir} ${test}`
    case "nyc":
      return `node_modules/.bin/nyc --reporter=json-summary --reporter=text --report-dir=${dir} ${test}`
    case "node":
      return test
  }
}

/** type.strict / the default typecheck with the project's own TypeScript. */
export const typecheckCommand = (project: Pick<NodeProject, "solution">): string =>
  project.solution ? "node_modules/.bin/tsc -b" : "node_modules/.bin/tsc --noEmit -p tsconfig.json"

export const shellQuote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`
