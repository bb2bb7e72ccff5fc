/**
 * Security (issue 20, finding 4 "server-side requests to anywhere"): the outbound policy of the
 * service itself — which repository hosts it connects to. Addresses are classified after
 * resolution (the system resolver reads the numeric IPv4 forms exactly as git's would), the
 * allow-list is REPO_ALLOWED_HOSTS, and REPO_ALLOW_PRIVATE never opens the metadata addresses.
 * Real git against real listeners: see SecurityOutboundGit.test.ts.
 */
import * as OutboundPolicy from "@devteam/runtime/OutboundPolicy"
import * as RepoUrl from "@devteam/runtime/RepoUrl"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Either, Fiber, Option, TestClock } from "effect"

const repo = (input: string): RepoUrl.RepoUrl => {
  const parsed = RepoUrl.parse(input, { allowFile: true })
  if (Either.isLeft(parsed)) return assert.fail(`${input}: ${parsed.left.message}`)
  return parsed.right
}

/** Public addresses for the names these tests use: no real DNS needed for them. */
const publicNames: Readonly<Record<string, ReadonlyArray<string>>> = {
  "github.com": ["140.82.112.3"],
  "api.example.com": ["93.184.215.14"],
  "example.com": ["93.184.215.14"],
  "gitlab.com": ["172.65.251.78"],
  "git.internal": ["10.20.30.40"],
  "mixed.example.net": ["93.184.215.14", "127.0.0.1"],
  "v6only.example.net": ["2606:4700:4700::1111"]
}
const testResolver: OutboundPolicy.Resolver = (host) => {
  const found = publicNames[host]
  return found === undefined ? Effect.fail(new Error(`ENOTFOUND ${host}`)) : Effect.succeed(found)
}

const refusal = (config: OutboundPolicy.OutboundConfig, url: string) =>
  Effect.map(Effect.flip(OutboundPolicy.check(config, repo(url))), (e) => {
    assert.strictEqual(e._tag, "InvalidRepoUrl")
    return e.message
  })

const pinned = (config: OutboundPolicy.OutboundConfig, url: string) =>
  Effect.flatMap(OutboundPolicy.check(config, repo(url)), (pin) =>
    Option.match(pin, {
      onNone: () => Effect.die(`${url}: no pin`),
      onSome: Effect.succeed
    }))

describe("Security: outbound policy (repository hosts)", () => {
  it("classifies every non-public range, IPv4-mapped, NAT64 and 6to4 forms included", () => {
    const cases: ReadonlyArray<readonly [string, string | null]> = [
      ["127.0.0.1", "loopback"],
      ["127.255.0.9", "loopback"],
      ["::1", "loopback"],
      ["0.0.0.0", "unspecified"],
      ["::", "unspecified"],
      ["10.1.2.3", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.254", "private"],
      ["192.168.1.1", "private"],
      ["100.64.0.1", "carrier-grade NAT"],
      ["169.254.1.1", "link-local"],
      ["fe80::1", "link-local"],
      ["fc00::1", "unique-local"],
      ["fd12:3456::1", "unique-local"],
      ["169.254.169.254", "metadata"],
      ["169.254.170.2", "metadata"],
      ["100.100.100.200", "metadata"],
      ["fd00:ec2::254", "metadata"],
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["::ffff:169.254.169.254", "metadata"],
      ["::ffff:10.0.0.1", "private"],
      ["64:ff9b::a9fe:a9fe", "metadata"],
      ["64:ff9b::7f00:1", "loopback"],
      ["2002:7f00:1::", "loopback"],
      ["2002:a00:1::1", "private"],
      ["224.0.0.1", "multicast"],
      ["ff02::1", "multicast"],
      ["255.255.255.255", "reserved"],
      ["198.18.0.1", "reserved"],
      ["2001:db8::1", "reserved"],
      ["not-an-address", "reserved"],
      ["140.82.112.3", null],
      ["8.8.8.8", null],
      ["172.32.0.1", null],
      ["100.128.0.1", null],
      ["2606:4700:4700::1111", null],
      ["::ffff:8.8.8.8", null]
    ]
    for (const [address, expected] of cases) {
      assert.strictEqual(Option.getOrNull(OutboundPolicy.classify(address)), expected, address)
    }
  })

  it.effect("refuses loopback, private and metadata hosts in every spelling (decimal/hex/octal IPv4, IPv6, mapped)", () =>
    Effect.gen(function*() {
      const strict = OutboundPolicy.strict
      for (
        const url of [
          "http://127.0.0.1:8080/evil/repo.git",
          "http://localhost/evil/repo.git",
          "http://2130706433/evil/repo.git",
          "http://0x7f.1/evil/repo.git",
          "http://0177.0.0.1/evil/repo.git",
          "http://[::1]:9000/evil/repo.git",
          "http://[::ffff:127.0.0.1]/evil/repo.git",
          "https://[::ffff:7f00:1]/evil/repo.git",
          "http://169.254.169.254/latest/meta-data",
          "http://[fd00:ec2::254]/latest/meta-data",
          "http://10.0.0.5/repo.git",
          "http://100.64.1.1/repo.git",
          "http://[fd12::1]/repo.git",
          "http://[fe80::1]/repo.git",
          "http://0.0.0.0/repo.git",
          "ssh://git@0x7f.1/org/repo.git",
          "ssh://git@2130706433:2222/org/repo.git",
          "git://017700000001/repo.git",
          "git@127.0.0.1:org/repo.git",
          "git@localhost:org/repo.git"
        ]
      ) {
        const message = yield* refusal(strict, url)
        assert.match(
          message,
          /resolves to a (?:loopback|private|metadata|carrier-grade NAT|unique-local|link-local|unspecified) address/,
          url
        )
      }
      // One non-public answer among public ones is enough to refuse (git may pick any of them).
      const mixed = yield* refusal({ ...strict, resolve: testResolver }, "https://mixed.example.net/r.git")
      assert.include(mixed, "loopback")
      // A name that does not resolve now: git is not run (a network failure, which may pass).
      const unresolved = yield* Effect.flip(
        OutboundPolicy.check({ ...strict, resolve: testResolver }, repo("https://nowhere.invalid/r.git"))
      )
      assert.strictEqual(unresolved._tag, "GitOperationFailed")
      assert.include(unresolved.message, "does not resolve")
    }))

  it.effect("REPO_ALLOW_PRIVATE opens the operator's own network but never the metadata addresses", () =>
    Effect.gen(function*() {
      const open: OutboundPolicy.OutboundConfig = { allowedHosts: [], allowPrivate: true, resolve: testResolver }
      assert.strictEqual((yield* pinned(open, "http://127.0.0.1:8080/r.git")).address, "127.0.0.1")
      assert.strictEqual((yield* pinned(open, "https://git.internal/r.git")).address, "10.20.30.40")
      for (
        const url of [
          "http://169.254.169.254/x",
          "http://[fd00:ec2::254]/x",
          "http://[::ffff:a9fe:a9fe]/x",
          "http://100.100.100.200/x"
        ]
      ) {
        assert.include(yield* refusal(open, url), "metadata", url)
      }
      assert.include(yield* refusal(open, "http://224.0.0.1/x"), "multicast")
    }))

  it.effect("REPO_ALLOWED_HOSTS: exact names, *.suffix and ports; anything else refused before any lookup", () =>
    Effect.gen(function*() {
      const read = (value: string) =>
        OutboundPolicy.OutboundConfig.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["REPO_ALLOWED_HOSTS", value]])))
        )
      const lookups: Array<string> = []
      const counting: OutboundPolicy.Resolver = (host) => {
        lookups.push(host)
        return testResolver(host)
      }
      const config = { ...(yield* read("GitHub.com, *.example.com, git.internal:8443")), resolve: counting }
      assert.isFalse(config.allowPrivate)
      yield* pinned(config, "https://github.com/acme/repo.git")
      yield* pinned(config, "git@github.com:acme/repo.git")
      yield* pinned(config, "https://api.example.com/r.git")
      assert.include(yield* refusal(config, "https://example.com/r.git"), "REPO_ALLOWED_HOSTS")
      assert.include(yield* refusal(config, "https://github.com.evil.example/r.git"), "REPO_ALLOWED_HOSTS")
      assert.include(yield* refusal(config, "https://gitlab.com/r.git"), "REPO_ALLOWED_HOSTS")
      assert.include(yield* refusal(config, "https://git.internal/r.git"), "REPO_ALLOWED_HOSTS")
      // allowed by name, but its address is private and REPO_ALLOW_PRIVATE is off
      assert.include(yield* refusal(config, "https://git.internal:8443/r.git"), "private")
      const lookedUp = [...lookups]
      assert.deepStrictEqual(lookedUp, ["github.com", "github.com", "api.example.com", "git.internal"])

      const bad = yield* Effect.flip(read("github.com, http://x/, *.*.com, host:99999"))
      const message = String(bad)
      assert.include(message, "REPO_ALLOWED_HOSTS")
      assert.include(message, "http://x/")
      assert.include(message, "*.*.com")
      assert.include(message, "invalid port")
      // Unset: any public host, nothing private.
      const defaults = yield* OutboundPolicy.OutboundConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
      )
      assert.deepStrictEqual(defaults, { allowedHosts: [], allowPrivate: false })
    }))

  it.effect("the pin: curl's resolve for http(s), insteadOf for git://, ssh's HostName with the name's host key", () =>
    Effect.gen(function*() {
      const config = { ...OutboundPolicy.strict, resolve: testResolver }
      const https = yield* pinned(config, "https://github.com/acme/repo.git")
      assert.deepStrictEqual(https.config, [["http.curloptResolve", "github.com:443:140.82.112.3"]])
      const v6 = yield* pinned(config, "http://v6only.example.net:8080/r.git")
      assert.deepStrictEqual(v6.config, [["http.curloptResolve", "v6only.example.net:8080:[2606:4700:4700::1111]"]])
      const git = yield* pinned(config, "git://github.com/acme/repo.git")
      assert.deepStrictEqual(git.config, [["url.git://140.82.112.3:9418/.insteadOf", "git://github.com/"]])
      const sshCommand = (pin: OutboundPolicy.Pinned) => pin.config.find(([key]) => key === "core.sshCommand")?.[1]
      const ssh = yield* pinned(config, "ssh://git@github.com:2222/acme/repo.git")
      assert.include(sshCommand(ssh), "-o HostName=140.82.112.3 -o HostKeyAlias=[github.com]:2222")
      const scp = yield* pinned(config, "git@github.com:acme/repo.git")
      assert.include(sshCommand(scp), "-o HostName=140.82.112.3 -o HostKeyAlias=github.com ")
      // An address literal needs no pin; a local repository has no host at all.
      assert.deepStrictEqual((yield* pinned(config, "https://140.82.112.3/r.git")).config, [])
      assert.isTrue(Option.isNone(yield* OutboundPolicy.check(config, repo("file:///srv/git/r.git"))))
    }))

  it.effect("the resolver's answers are kept: one lookup per host at a time, again after the TTL; failures briefly", () =>
    Effect.gen(function*() {
      // a resolver of our own standing in for DNS (the cache is what is tested): it counts the
      // lookups and holds the first one until released, so concurrent checks overlap
      const lookups: Array<string> = []
      const release = yield* Deferred.make<void>()
      const resolver: OutboundPolicy.Resolver = (host) =>
        Effect.zipRight(
          Effect.sync(() => lookups.push(host)),
          lookups.length === 0 ? Effect.zipRight(Deferred.await(release), testResolver(host)) : testResolver(host)
        )
      const resolve = yield* OutboundPolicy.cachedResolver(resolver, { ttl: "30 seconds", failureTtl: "5 seconds" })
      const config: OutboundPolicy.OutboundConfig = { ...OutboundPolicy.strict, resolve }

      const concurrent = yield* Effect.fork(
        Effect.all([pinned(config, "https://github.com/a/b.git"), pinned(config, "https://github.com/c/d.git")], {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("1 second")
      yield* Deferred.succeed(release, undefined)
      const [first, second] = yield* Fiber.join(concurrent)
      assert.strictEqual(first.address, "140.82.112.3")
      assert.strictEqual(second.address, "140.82.112.3")
      assert.deepStrictEqual(lookups, ["github.com"], "two checks at once: one lookup")

      yield* TestClock.adjust("20 seconds")
      yield* pinned(config, "https://github.com/e/f.git")
      assert.deepStrictEqual(lookups, ["github.com"], "within the TTL: the kept answer")
      yield* pinned(config, "https://gitlab.com/g/h.git")
      assert.deepStrictEqual(lookups, ["github.com", "gitlab.com"], "another host: its own lookup")

      yield* TestClock.adjust("15 seconds")
      yield* pinned(config, "https://github.com/e/f.git")
      assert.deepStrictEqual(lookups, ["github.com", "gitlab.com", "github.com"], "after the TTL: asked again")

      // a name that does not resolve: kept as a failure for 5 s, then asked again
      const unresolved = (url: string) =>
        Effect.map(Effect.flip(OutboundPolicy.check(config, repo(url))), (e) => e._tag)
      assert.strictEqual(yield* unresolved("https://nowhere.example.org/r.git"), "GitOperationFailed")
      assert.strictEqual(yield* unresolved("https://nowhere.example.org/r.git"), "GitOperationFailed")
      assert.strictEqual(lookups.filter((h) => h === "nowhere.example.org").length, 1)
      yield* TestClock.adjust("6 seconds")
      assert.strictEqual(yield* unresolved("https://nowhere.example.org/r.git"), "GitOperationFailed")
      assert.strictEqual(lookups.filter((h) => h === "nowhere.example.org").length, 2)
    }))
})
