import { OperationArtifact } from "@devteam/domain/Artifacts"
import {
  EgressConnection,
  EgressSummary,
  formatHostPort,
  HostPort,
  parseHostPort,
  parseHostPortList,
  summarize
} from "@devteam/domain/Egress"
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"

const conn = (target: string, allowed: boolean, up: number, down: number, error?: string) =>
  new EgressConnection({
    step: "VERIFY",
    target,
    kind: "CONNECT",
    allowed,
    bytesUp: up,
    bytesDown: down,
    duration: 10,
    ...(error === undefined ? {} : { error })
  })

describe("Egress", () => {
  it("parses host, host:port and [v6]:port, lower-cased, default port 443", () => {
    assert.deepStrictEqual(parseHostPort("Registry.NPMJS.org"), new HostPort({ host: "registry.npmjs.org", port: 443 }))
    assert.deepStrictEqual(parseHostPort("api.example.com:8080"), new HostPort({ host: "api.example.com", port: 8080 }))
    assert.deepStrictEqual(parseHostPort("[::1]:80"), new HostPort({ host: "::1", port: 80 }))
    assert.deepStrictEqual(parseHostPort("10.0.0.1", 80), new HostPort({ host: "10.0.0.1", port: 80 }))
    assert.strictEqual(formatHostPort({ host: "::1", port: 80 }), "[::1]:80")
  })

  it("refuses what is not a host[:port], saying what", () => {
    for (const bad of ["", "http://x.com", "x.com:0", "x.com:70000", "x.com:80a", "-x.com", "a b", "x.com/path"]) {
      const parsed = parseHostPort(bad)
      assert.isTrue(typeof parsed === "string", `${JSON.stringify(bad)} was accepted`)
    }
    const list = parseHostPortList(" a.com, b.com:8443 ,,bad host")
    assert.deepStrictEqual(list.hosts.map(formatHostPort), ["a.com:443", "b.com:8443"])
    assert.strictEqual(list.errors.length, 1)
    assert.include(list.errors[0], "bad host")
  })

  it("summarises per destination, denied first, totals over all", () => {
    const s = summarize("VERIFY", [new HostPort({ host: "registry.npmjs.org", port: 443 })], true, [
      conn("registry.npmjs.org:443", true, 100, 5000),
      conn("registry.npmjs.org:443", true, 50, 1000, "ECONNRESET"),
      conn("evil.example:443", false, 0, 0)
    ])
    assert.strictEqual(s.connections, 3)
    assert.strictEqual(s.denied, 1)
    assert.strictEqual(s.bytesUp, 150)
    assert.strictEqual(s.bytesDown, 6000)
    assert.deepStrictEqual(s.allowList, ["registry.npmjs.org:443"])
    assert.deepStrictEqual(s.targets.map((t) => [t.target, t.allowed, t.connections, t.failed]), [
      ["evil.example:443", false, 1, 0],
      ["registry.npmjs.org:443", true, 2, 1]
    ])
  })

  it("lists at most 50 destinations and counts the rest", () => {
    const many = Array.from({ length: 60 }, (_, i) => conn(`h${i}.example:443`, false, 0, 0))
    const s = summarize("IMPLEMENT", [], true, many)
    assert.strictEqual(s.targets.length, 50)
    assert.strictEqual(s.targetsOmitted, 10)
    assert.strictEqual(s.denied, 60)
  })

  it("an artifact journaled before egress existed still decodes; one with a summary round-trips", () => {
    const old = {
      operation: "implement",
      taskId: "T1",
      tool: "aider",
      success: true,
      duration: 1,
      outputs: { diff: "", stdout: "", stderr: "", filesModified: [], linesChanged: 0 }
    }
    const decoded = Schema.decodeUnknownSync(OperationArtifact)(old)
    assert.isUndefined(decoded.egress)
    const egress = Schema.encodeSync(EgressSummary)(summarize("IMPLEMENT", [], true, [conn("a.b:443", false, 0, 0)]))
    const json = JSON.parse(JSON.stringify({ ...old, egress }))
    const again = Schema.decodeUnknownSync(OperationArtifact)(json)
    assert.strictEqual(again.egress?.denied, 1)
    assert.strictEqual(again.egress?.targets[0]?.target, "a.b:443")
  })
})
