/**
 * Security (issue 20, finding 1): git credentials reach only the hosts they are configured for.
 * Real git against real smart-HTTP servers: the configured host, and a second listener standing
 * for an attacker's server that records whether any Authorization header reached it.
 */
import { TaskId } from "@devteam/domain/Ids"
import * as GitCredentials from "@devteam/runtime/GitCredentials"
import * as GitWorkspace from "@devteam/runtime/GitWorkspace"
import * as Redaction from "@devteam/runtime/Redaction"
import * as RepositoryProbe from "@devteam/runtime/RepositoryProbe"
import * as GitHttpServer from "@devteam/runtime/testing/GitHttpServer"
import { makeBareRemote, tempDir } from "@devteam/runtime/testing/GitRemote"
import * as WorkspaceLocks from "@devteam/runtime/WorkspaceLocks"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Option, Redacted } from "effect"
import * as Path from "node:path"

const PASSWORD = "configured-host-token-0123456789"

/** The Workspace with the repository probe's `validate` over the same configuration. */
const workspace = (workspaceDir: string, credentials: ReadonlyArray<GitCredentials.GitCredential>) =>
  Effect.gen(function*() {
    const config = {
      workspaceDir,
      allowFile: false,
      gitUsername: Option.none(),
      credentials,
      authorName: "DevTeam Test Runner",
      authorEmail: "runner@test.invalid",
      commandTimeout: Duration.seconds(60),
      // both listeners are on 127.0.0.1
      outbound: { allowedHosts: [], allowPrivate: true }
    }
    const ws = yield* GitWorkspace.make(config)
    const probe = yield* RepositoryProbe.make(config)
    return { ...ws, validate: probe.validate }
  }).pipe(Effect.provide([Redaction.layerWith([]), WorkspaceLocks.layer]))

/** The configured host and a second listener that serves anyone (as an attacker's would). */
const servers = (redirectToOther: boolean) =>
  Effect.gen(function*() {
    const root = yield* tempDir()
    makeBareRemote({ root: Path.join(root, "trusted"), name: "project.git" })
    makeBareRemote({ root: Path.join(root, "other"), name: "evil.git" })
    const other = yield* GitHttpServer.make({
      root: Path.join(root, "other"),
      username: "x",
      password: "other-pass",
      anonymous: true
    })
    const trusted = yield* GitHttpServer.make({
      root: Path.join(root, "trusted"),
      username: "runner",
      password: PASSWORD,
      ...(redirectToOther
        ? {
          redirect: ({ path, query }) =>
            path.startsWith("/moved.git/")
              ? `${other.baseUrl}/evil.git/${path.slice("/moved.git/".length)}${query}`
              : undefined
        }
        : {})
    })
    const credential = { host: trusted.host, username: "runner", token: Redacted.make(PASSWORD) }
    return { root, trusted, other, credential }
  })

const id = TaskId.make("1.1.1")

describe("Security: git credentials per host", () => {
  it.scopedLive("validate, prep and sync against another host send no credentials there; the configured host gets them", () =>
    Effect.gen(function*() {
      const { credential, other, root, trusted } = yield* servers(false)
      const ws = yield* workspace(Path.join(root, "ws"), [credential])

      const ok = yield* ws.validate({ repoUrl: trusted.url("project.git") })
      assert.isTrue(ok.reachable)
      const prep = yield* ws.prepare({ repoUrl: trusted.url("project.git"), taskId: id, title: "t" })
      assert.isTrue(prep.cloned)
      assert.isTrue(trusted.requests.length > 0)
      assert.isTrue(trusted.requests.every((r) => r.authorized), "the configured host got its credential")

      const elsewhere = yield* ws.validate({ repoUrl: other.url("evil.git") })
      assert.isTrue(elsewhere.reachable)
      yield* ws.prepare({ repoUrl: other.url("evil.git"), taskId: id, title: "t" })
      yield* ws.sync({ repoUrl: other.url("evil.git"), project: "acme/x" })
      assert.isAtLeast(other.requests.length, 3, "git did contact the other listener")
      assert.deepStrictEqual(other.requests.filter((r) => r.credentialsSent), [], "no Authorization header there")
    }))

  it.scopedLive("a redirect from the configured host to another host carries no credentials (git follows none)", () =>
    Effect.gen(function*() {
      const { credential, other, root, trusted } = yield* servers(true)
      const ws = yield* workspace(Path.join(root, "ws"), [credential])
      const moved = trusted.url("moved.git")
      yield* Effect.either(ws.validate({ repoUrl: moved }))
      yield* Effect.either(ws.prepare({ repoUrl: moved, taskId: id, title: "t" }))
      assert.isTrue(trusted.requests.some((r) => r.status === 302), "the configured host redirected")
      assert.deepStrictEqual(other.requests.filter((r) => r.credentialsSent), [])
    }))

  it.scopedLive("with no credential configured for a host (GIT_TOKEN without GIT_HOSTS), nothing is sent anywhere", () =>
    Effect.gen(function*() {
      const { root, trusted } = yield* servers(false)
      const credentials = yield* GitCredentials.CredentialsConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["GIT_TOKEN", PASSWORD]])))
      )
      assert.deepStrictEqual(credentials, [])
      const ws = yield* workspace(Path.join(root, "ws"), credentials)
      const result = yield* ws.validate({ repoUrl: trusted.url("project.git") })
      assert.isFalse(result.reachable)
      assert.isTrue(result.accessDenied)
      assert.deepStrictEqual(trusted.requests.filter((r) => r.credentialsSent), [])
    }))

  it.effect("GIT_HOSTS and GIT_CREDENTIALS: exact hosts, default ports, per-host entries win", () =>
    Effect.gen(function*() {
      const read = (entries: ReadonlyArray<readonly [string, string]>) =>
        GitCredentials.CredentialsConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries))))
      const creds = yield* read([
        ["GIT_TOKEN", "tok-general"],
        ["GIT_HOSTS", "GitHub.com, git.example.com:8443"],
        ["GIT_CREDENTIALS", "git.example.com:8443=bot:tok-special,\ngitlab.internal=oauth2:tok:with:colons"]
      ])
      const owner = (url: string) =>
        Option.match(GitCredentials.forUrl(creds, url), {
          onNone: () => "none",
          onSome: (c) => `${c.username}:${Redacted.value(c.token)}`
        })
      assert.strictEqual(owner("https://github.com/acme/repo.git"), "x-access-token:tok-general")
      assert.strictEqual(owner("https://github.com:443/acme/repo.git"), "x-access-token:tok-general")
      assert.strictEqual(owner("http://github.com:8080/acme/repo.git"), "none")
      assert.strictEqual(owner("https://evil.github.com/acme/repo.git"), "none")
      assert.strictEqual(owner("https://github.com.evil.example/acme/repo.git"), "none")
      assert.strictEqual(owner("https://git.example.com:8443/r.git"), "bot:tok-special")
      assert.strictEqual(owner("https://git.example.com/r.git"), "none")
      assert.strictEqual(owner("https://gitlab.internal/r.git"), "oauth2:tok:with:colons")
      assert.strictEqual(owner("ssh://git@github.com/acme/repo.git"), "none")

      const bad = yield* Effect.flip(
        read([["GIT_CREDENTIALS", "github.com=notoken,bad host=u:t,x.org=u:secret-value"]])
      )
      const message = String(bad)
      assert.include(message, "GIT_CREDENTIALS")
      assert.include(message, "entry 1")
      assert.include(message, "entry 2")
      assert.notInclude(message, "secret-value")
      const badHosts = yield* Effect.flip(read([["GIT_HOSTS", "ok.example, http://x/"]]))
      assert.include(String(badHosts), "GIT_HOSTS")
      assert.isTrue(Either.isLeft(GitCredentials.parseHost("example.com:70000")))
    }))
})
