import * as RepoUrl from "@devteam/runtime/RepoUrl"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"

const strict = { allowFile: false }
const local = { allowFile: true }

const ok = (input: string, options = strict): RepoUrl.RepoUrl => {
  const result = RepoUrl.parse(input, options)
  if (Either.isLeft(result)) return assert.fail(`expected ${input} to be accepted: ${result.left.message}`)
  return result.right
}

const rejected = (input: string, options = strict): string => {
  const result = RepoUrl.parse(input, options)
  if (Either.isRight(result)) return assert.fail(`expected ${JSON.stringify(input)} to be rejected`)
  assert.strictEqual(result.left._tag, "InvalidRepoUrl")
  return result.left.message
}

describe("RepoUrl.parse", () => {
  it("accepts https, http, ssh, git and scp-like URLs", () => {
    const https = ok("https://GitHub.com/Org/Repo.git")
    assert.strictEqual(https.kind, "https")
    assert.strictEqual(https.url, "https://github.com/Org/Repo.git")
    assert.isTrue(https.usesHttpAuth)
    assert.strictEqual(ok("http://127.0.0.1:8080/repo.git").url, "http://127.0.0.1:8080/repo.git")
    const ssh = ok("ssh://git@example.com:2222/org/repo.git")
    assert.strictEqual(ssh.kind, "ssh")
    assert.isFalse(ssh.usesHttpAuth)
    assert.strictEqual(ok("git://example.com/repo").kind, "git")
    const scp = ok("git@github.com:org/repo.git")
    assert.strictEqual(scp.kind, "ssh")
    assert.strictEqual(scp.url, "git@github.com:org/repo.git")
    assert.strictEqual(ok("https://[::1]:8443/x/y").kind, "https")
  })

  it("gives one cache key to spellings of one repository, and different keys to different ones", () => {
    const a = ok("https://github.com/org/repo")
    assert.strictEqual(ok("https://GITHUB.com/org/repo.git").key, a.key)
    assert.strictEqual(ok("https://github.com/org/repo/").key, a.key)
    assert.strictEqual(ok("  https://github.com/org/repo.git  ").key, a.key)
    assert.notStrictEqual(ok("https://github.com/org/other").key, a.key)
    assert.notStrictEqual(ok("https://github.com/Org/repo").key, a.key)
    assert.strictEqual(ok("git@github.com:/org/repo.git").key, ok("ssh://git@github.com/org/repo").key)
    assert.isTrue(RepoUrl.isCacheKey(a.key))
    assert.strictEqual(a.key.length, RepoUrl.keyLength)
  })

  it("accepts file:// and absolute paths only when allowed", () => {
    assert.include(rejected("file:///srv/git/repo.git"), "REPO_ALLOW_FILE")
    assert.include(rejected("/srv/git/repo.git"), "REPO_ALLOW_FILE")
    const file = ok("file:///srv/git/repo.git", local)
    assert.strictEqual(file.kind, "file")
    assert.strictEqual(file.url, "file:///srv/git/repo.git")
    assert.isFalse(file.usesHttpAuth)
    const path = ok("/srv/git/repo.git/", local)
    assert.strictEqual(path.url, "/srv/git/repo.git")
    assert.strictEqual(path.key, file.key)
    rejected("file://otherhost/srv/repo", local)
    rejected("./relative/repo", local)
    rejected("../relative/repo", local)
    rejected("~/repo", local)
    rejected("/srv/../etc/repo", local)
  })

  const corpus: ReadonlyArray<string> = [
    "",
    "   ",
    "--upload-pack=touch /tmp/pwned",
    "--upload-pack=touch",
    "-u",
    "-oProxyCommand=touch%20/tmp/pwned",
    "ext::sh -c touch% /tmp/pwned",
    "ext::sh",
    "fd::17",
    "https::example.com/repo",
    "https://user:secret-token@github.com/org/repo.git",
    "https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/org/repo.git",
    "http://token@example.com/repo",
    "ssh://git:password@example.com/repo",
    "ssh://-oProxyCommand=touch%20x/repo",
    "ssh://example.com/-repo",
    "-oProxyCommand=x:repo",
    "git@-oProxyCommand=x:repo",
    "git@host:-repo",
    "ftp://example.com/repo.git",
    "javascript:alert(1)",
    "https://example.com/repo.git?upload-pack=x",
    "https://example.com/repo.git#frag",
    "https://example.com",
    "https://example.com/",
    "https://exa mple.com/repo",
    "https://example.com/re po",
    "https://example.com/repo\n--upload-pack=x",
    "https://example.com/repo\u0000",
    "https://example.com/$(touch /tmp/pwned)",
    "https://example.com/`id`",
    "https://example.com/a;rm -rf /",
    "https://example.com/a|cat",
    "https://example.com/../../etc/passwd",
    "https://example.com/a/../../b",
    "https://ex_ample..com/repo",
    "just-a-word",
    "C:\\repos\\x",
    `https://example.com/${"a".repeat(3000)}`
  ]

  for (const input of corpus) {
    it(`rejects ${JSON.stringify(input).slice(0, 60)}`, () => {
      const message = rejected(input)
      assert.match(message, /^Invalid repoUrl /)
    })
  }

  it("never echoes credentials in the message", () => {
    const message = rejected("https://alice:s3cr3t-canary-value@github.com/org/repo.git")
    assert.notInclude(message, "s3cr3t-canary-value")
    assert.notInclude(message, "alice")
    assert.include(message, "credentials")
  })

  it.effect("validate is the Effect form", () =>
    Effect.gen(function*() {
      const repo = yield* RepoUrl.validate("https://example.com/a/b", strict)
      assert.strictEqual(repo.url, "https://example.com/a/b")
      const error = yield* Effect.flip(RepoUrl.validate("ext::sh", strict))
      assert.strictEqual(error._tag, "InvalidRepoUrl")
    }))
})
