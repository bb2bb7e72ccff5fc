/** Per-step allow-lists: registries from the repository's package-manager files, operator additions. */
import type { HostPort } from "@devteam/domain/Egress"
import { formatHostPort, parseHostPort } from "@devteam/domain/Egress"
import * as EgressPolicy from "@devteam/runtime/EgressPolicy"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"

const repoWith = (files: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "devteam-egress-policy-"))
      for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(dir, name), text)
      return dir
    }),
    (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
  )

const names = (hosts: ReadonlyArray<HostPort>) => hosts.map(formatHostPort)

/** Makes `dir` a git repository whose `main` holds its files. */
const commitAll = (dir: string) => {
  const git = (...args: Array<string>) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd: dir, stdio: "ignore" })
  git("init", "-q", "-b", "main")
  git("add", "-A")
  git("commit", "-q", "-m", "base")
}

const hp = (text: string): HostPort => {
  const parsed = parseHostPort(text)
  if (typeof parsed === "string") throw new Error(parsed)
  return parsed
}

describe("EgressPolicy", () => {
  it.scoped("no package-manager configuration: the public npm registry", () =>
    Effect.gen(function*() {
      const repo = yield* repoWith({ "package.json": "{}" })
      assert.deepStrictEqual(names(yield* EgressPolicy.registryHosts(repo)), ["registry.npmjs.org:443"])
    }))

  it.scoped(".npmrc: its registry replaces the public one; scoped registries are added", () =>
    Effect.gen(function*() {
      const own = yield* repoWith({
        ".npmrc":
          "registry=https://npm.corp.example/\n@acme:registry=http://acme.example:8080/npm/\n//npm.corp.example/:_authToken=${TOKEN}\n"
      })
      assert.deepStrictEqual(names(yield* EgressPolicy.registryHosts(own)), [
        "npm.corp.example:443",
        "acme.example:8080"
      ])
      const scopedOnly = yield* repoWith({ ".npmrc": "@acme:registry=https://acme.example/\n" })
      assert.deepStrictEqual(names(yield* EgressPolicy.registryHosts(scopedOnly)), [
        "acme.example:443",
        "registry.npmjs.org:443"
      ])
    }))

  it.scoped("yarn: yarn.lock adds Yarn's registry; .yarnrc.yml / .yarnrc name their own", () =>
    Effect.gen(function*() {
      const lock = yield* repoWith({ "yarn.lock": "# yarn lockfile v1\n" })
      assert.deepStrictEqual(names(yield* EgressPolicy.registryHosts(lock)), [
        "registry.npmjs.org:443",
        "registry.yarnpkg.com:443"
      ])
      const berry = yield* repoWith({
        ".yarnrc.yml":
          "npmRegistryServer: \"https://yarn.corp.example\"\nnpmScopes:\n  acme:\n    npmRegistryServer: https://acme.example:4873\n"
      })
      assert.deepStrictEqual(names(yield* EgressPolicy.registryHosts(berry)), [
        "yarn.corp.example:443",
        "acme.example:4873"
      ])
      const classic = yield* repoWith({ ".yarnrc": "registry \"http://mirror.example/\"\n" })
      assert.deepStrictEqual(names(yield* EgressPolicy.registryHosts(classic)), ["mirror.example:80"])
    }))

  it.scoped("VERIFY: registries plus EGRESS_ALLOW_VERIFY; IMPLEMENT: the tool's hosts plus EGRESS_ALLOW_IMPLEMENT", () =>
    Effect.gen(function*() {
      const settings = yield* EgressPolicy.EgressPolicyConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([
            ["EGRESS_ALLOW_IMPLEMENT", "telemetry.example, api.example.com:443"],
            ["EGRESS_ALLOW_VERIFY", "github.com,codeload.github.com:443"]
          ])
        ))
      )
      const repo = yield* repoWith({ "package.json": "{}" })
      commitAll(repo)
      assert.deepStrictEqual(names(yield* EgressPolicy.verifyAllowList(repo, "main", settings)), [
        "registry.npmjs.org:443",
        "github.com:443",
        "codeload.github.com:443"
      ])
      assert.deepStrictEqual(
        names(EgressPolicy.implementAllowList([hp("api.example.com"), hp("model.test:8080")], settings)),
        ["api.example.com:443", "model.test:8080", "telemetry.example:443"]
      )
      assert.deepStrictEqual(names(EgressPolicy.implementAllowList(undefined, EgressPolicy.noAdditions)), [])
    }))

  it.effect("a malformed EGRESS_ALLOW_* is a configuration error naming the variable and the entry", () =>
    Effect.gen(function*() {
      const result = yield* Effect.exit(EgressPolicy.EgressPolicyConfig.pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["EGRESS_ALLOW_VERIFY", "ok.example, https://x.example/"]]))
        )
      ))
      assert.isTrue(Exit.isFailure(result))
      const text = String(Exit.isFailure(result) ? result.cause : "")
      assert.include(text, "EGRESS_ALLOW_VERIFY")
      assert.include(text, "https://x.example/")
    }))

  it.effect("a project's additions pass only when EGRESS_PROJECT_ALLOW lists them; they join the step's list", () =>
    Effect.gen(function*() {
      const settings = yield* EgressPolicy.EgressPolicyConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([["EGRESS_PROJECT_ALLOW", "mirror.example.com, models.example.com:8443"]])
        ))
      )
      const split = EgressPolicy.projectAdditions(
        ["Mirror.Example.com:443", "models.example.com", "evil.example.com", "not a host"],
        settings
      )
      assert.deepStrictEqual(names(split.permitted), ["mirror.example.com:443"])
      assert.deepStrictEqual(split.refused, ["models.example.com", "evil.example.com", "not a host"])
      assert.deepStrictEqual(EgressPolicy.projectAdditions(undefined, settings), { permitted: [], refused: [] })
      assert.deepStrictEqual(
        names(EgressPolicy.implementAllowList([hp("api.example.com")], settings, split.permitted)),
        ["api.example.com:443", "mirror.example.com:443"]
      )
    }))

  it.scoped("VERIFY reads the registries from the base branch: an .npmrc written during IMPLEMENT opens nothing", () =>
    Effect.gen(function*() {
      const repo = yield* repoWith({ ".npmrc": "registry=https://npm.corp.example/\n", "yarn.lock": "# v1\n" })
      commitAll(repo)
      // what an agent could write into the work tree to open a channel out
      yield* Effect.promise(() => fs.writeFile(path.join(repo, ".npmrc"), "registry=https://attacker.example/\n"))
      const allow = names(yield* EgressPolicy.verifyAllowList(repo, "main", EgressPolicy.noAdditions))
      assert.deepStrictEqual(allow, ["npm.corp.example:443"])
      assert.deepStrictEqual(names(yield* EgressPolicy.registryHosts(repo)), ["attacker.example:443"])
    }))
})
