/**
 * The sandbox contract, written once and run against both adapters: `local` (child processes)
 * and `docker` (the real engine, the locally built image).
 */
import * as ProcessLauncher from "@devteam/runtime/ProcessLauncher"
import { Sandbox } from "@devteam/runtime/Sandbox"
import type { OutputLine, SandboxHandle } from "@devteam/runtime/Sandbox"
import * as SandboxLayer from "@devteam/runtime/SandboxLayer"
import { assert, describe, layer } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { Layer } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { readFileSync, rmSync } from "node:fs"
import { ownerOf, ownerRecordOf, recordOwner } from "../src/internal/localProcesses.js"
import { dockerLayer, localLayer, newIds, redactor, tempWorkspace, uniqueOwner } from "./fixtures/sandboxes.js"

const withHandle = <A, E>(f: (handle: SandboxHandle) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox
    const workspacePath = yield* tempWorkspace()
    const handle = yield* sandbox.acquire({ ...newIds(), workspacePath })
    return yield* f(handle)
  }).pipe(Effect.scoped)

/** Whether the pid written in `file` (relative to the workspace) is still a live (non-zombie) process. */
const alive = (handle: SandboxHandle, file: string) =>
  handle.exec({
    command: [
      "sh",
      "-c",
      `p=$(cat ${file}); if [ -d /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status 2>/dev/null; then echo alive; else echo dead; fi`
    ],
    timeout: "10 seconds"
  }).pipe(Effect.map((r) => r.stdout.trim()))

const contract = (name: "local" | "docker", sandboxLayer: Layer.Layer<Sandbox>, title: string = name) =>
  layer(sandboxLayer, { timeout: "180 seconds", excludeTestServices: true })(`Sandbox contract: ${title}`, (it) => {
    it.effect("streams stdout and stderr line by line, in order", () =>
      withHandle((handle) =>
        Effect.gen(function*() {
          const lines: Array<OutputLine> = []
          const result = yield* handle.exec({
            command: ["sh", "-c", "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; printf 'tail'"],
            timeout: "20 seconds",
            onLine: (line) => Effect.sync(() => lines.push(line))
          })
          assert.strictEqual(result.exitCode, 0)
          assert.isFalse(result.timedOut)
          assert.deepStrictEqual(
            lines.filter((l) => l.stream === "stdout").map((l) => l.text),
            ["out1", "out2", "out3", "out4", "out5", "tail"]
          )
          assert.deepStrictEqual(
            lines.filter((l) => l.stream === "stderr").map((l) => l.text),
            ["err1", "err2", "err3", "err4", "err5"]
          )
          assert.strictEqual(result.stdout, "out1\nout2\nout3\nout4\nout5\ntail")
          assert.strictEqual(result.stderr, "err1\nerr2\nerr3\nerr4\nerr5")
        })
      ))

    it.effect("reports exit codes, and a missing command as 127", () =>
      withHandle((handle) =>
        Effect.gen(function*() {
          const three = yield* handle.exec({ command: ["sh", "-c", "exit 3"], timeout: "20 seconds" })
          assert.strictEqual(three.exitCode, 3)
          const no = yield* handle.exec({ command: ["false"], timeout: "20 seconds" })
          assert.strictEqual(no.exitCode, 1)
          const missing = yield* handle.exec({ command: ["no-such-command-xyz"], timeout: "20 seconds" })
          assert.strictEqual(missing.exitCode, 127)
          assert.include(missing.stderr, "command not found")
          const argv = yield* handle.exec({ command: ["echo", "$(id)", "a;b"], timeout: "20 seconds" })
          assert.strictEqual(argv.stdout, "$(id) a;b", "argv is not interpreted by a shell")
        })
      ))

    it.effect("runs in the workspace (cwd relative to it) with only the given environment", () =>
      withHandle((handle) =>
        Effect.gen(function*() {
          process.env.GIT_TOKEN = "ghp_canaryCanaryCanaryCanary1234"
          yield* handle.exec({ command: ["mkdir", "-p", "sub/dir"], timeout: "20 seconds" })
          const result = yield* handle.exec({
            command: ["sh", "-c", "pwd; echo \"$FOO\"; env"],
            cwd: "sub/dir",
            env: { FOO: "bar baz" },
            timeout: "20 seconds"
          })
          const [pwd, foo] = result.stdout.split("\n")
          assert.strictEqual(pwd, `${handle.workdir}/sub/dir`)
          assert.strictEqual(foo, "bar baz")
          assert.notInclude(result.stdout, "GIT_TOKEN")
          assert.notInclude(result.stdout, "canaryCanary")
          const escape = yield* Effect.either(handle.exec({ command: ["pwd"], cwd: "../..", timeout: "5 seconds" }))
          assert.strictEqual(escape._tag, "Left")
        }).pipe(Effect.ensuring(Effect.sync(() => delete process.env.GIT_TOKEN)))
      ))

    it.effect("redacts secrets on whole lines, in results and streamed lines", () =>
      withHandle((handle) =>
        Effect.gen(function*() {
          const lines: Array<string> = []
          const result = yield* handle.exec({
            command: ["sh", "-c", "printf 'key=%s\\n' \"$MY_API_KEY\"; echo canary-secret-value-1234 >&2"],
            env: { MY_API_KEY: "zzz-model-key-value-987" },
            timeout: "20 seconds",
            onLine: (l) => Effect.sync(() => lines.push(l.text))
          })
          assert.notInclude(result.stdout, "zzz-model-key-value-987")
          assert.include(result.stdout, "[REDACTED]")
          assert.strictEqual(result.stderr, "[REDACTED]")
          assert.isFalse(lines.some((l) => l.includes("model-key") || l.includes("canary-secret")))
        })
      ))

    it.effect("a timeout kills the whole process tree and reports it", () =>
      withHandle((handle) =>
        Effect.gen(function*() {
          const started = Date.now()
          const result = yield* handle.exec({
            command: ["sh", "-c", "echo $$ > main.pid; sleep 1000 & echo $! > bg.pid; echo started; wait"],
            timeout: "1500 millis"
          })
          assert.isTrue(result.timedOut)
          assert.isFalse(result.oomKilled)
          assert.strictEqual(result.exitCode, 137)
          assert.strictEqual(result.stdout, "started")
          assert.isBelow(Date.now() - started, 8000)
          assert.strictEqual(yield* alive(handle, "main.pid"), "dead")
          assert.strictEqual(yield* alive(handle, "bg.pid"), "dead")
        })
      ))

    it.effect("a command's leftover background processes die with it", () =>
      withHandle((handle) =>
        Effect.gen(function*() {
          const started = Date.now()
          const result = yield* handle.exec({
            command: ["sh", "-c", "sleep 1000 & echo $! > bg.pid; echo done"],
            timeout: "30 seconds"
          })
          assert.strictEqual(result.exitCode, 0)
          assert.strictEqual(result.stdout, "done")
          assert.isBelow(Date.now() - started, 8000)
          assert.strictEqual(yield* alive(handle, "bg.pid"), "dead")
        })
      ))

    it.effect("interrupting a running exec (stop) kills it", () =>
      withHandle((handle) =>
        Effect.gen(function*() {
          const ready = yield* Deferred.make<void>()
          const fiber = yield* handle.exec({
            command: ["sh", "-c", "echo $$ > main.pid; sleep 1000 & echo $! > bg.pid; echo started; wait"],
            timeout: "10 minutes",
            onLine: (l) => l.text === "started" ? Deferred.succeed(ready, undefined) : Effect.void
          }).pipe(Effect.fork)
          yield* Deferred.await(ready)
          const started = Date.now()
          yield* Fiber.interrupt(fiber)
          assert.isBelow(Date.now() - started, 8000)
          assert.strictEqual(yield* alive(handle, "main.pid"), "dead")
          assert.strictEqual(yield* alive(handle, "bg.pid"), "dead")
        })
      ))

    it.effect("health reports the adapter", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox
        const health = yield* sandbox.health()
        assert.strictEqual(health.kind, name)
        assert.isTrue(health.available)
        assert.strictEqual(health.isolation, name === "docker")
      }))
  })

/** A live (non-zombie) process? */
const running = (pid: number): boolean => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    return !/^State:\s+Z/m.test(status)
  } catch {
    return false
  }
}

/** What a runner process leaves behind when it dies mid-command: a detached process group with its markers. */
const leftover = (owner: number, workspace: string): number => {
  const child = spawn("sleep", ["1000"], {
    detached: true,
    stdio: "ignore",
    env: { PATH: process.env.PATH, DEVTEAM_SANDBOX_PID: String(owner), DEVTEAM_SANDBOX_WORKSPACE: workspace }
  })
  child.unref()
  if (child.pid === undefined) throw new Error("could not spawn sleep")
  return child.pid
}

const waitUntilFor = (check: () => boolean, tries: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < tries && !check(); i++) yield* Effect.sleep("10 millis")
    return check()
  })

const waitUntil = (check: () => boolean) => waitUntilFor(check, 200)

describe("Sandbox", () => {
  contract("local", localLayer)
  // as the service runs it: its commands start from the launcher's helper process
  contract("local", localLayer.pipe(Layer.provide(ProcessLauncher.layerHelper)), "local (helper process)")

  layer(localLayer, { excludeTestServices: true })("LocalSandbox after a runner crash", (it) => {
    it.scoped("acquiring a workspace again kills what a dead runner left running there, and nothing else", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox
        const workspace = yield* tempWorkspace()
        const otherWorkspace = yield* tempWorkspace()
        // a pid that belonged to a process that has exited: the dead runner
        const dead = spawnSync("true").pid
        const orphan = leftover(dead, workspace)
        const elsewhere = leftover(dead, otherWorkspace)
        const liveOwners = leftover(process.ppid, workspace)
        // the dead runner had acquired both workspaces (it records itself before its first command)
        recordOwner(workspace, ownerOf(dead))
        recordOwner(otherWorkspace, ownerOf(dead))
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            for (const pid of [orphan, elsewhere, liveOwners]) {
              try {
                process.kill(-pid, "SIGKILL")
              } catch {
                // gone
              }
            }
            // the pretended dead runner's record of the workspace nothing acquires again
            rmSync(ownerRecordOf(otherWorkspace), { force: true })
          })
        )
        assert.isTrue(running(orphan) && running(elsewhere) && running(liveOwners))
        yield* sandbox.acquire({ ...newIds(), workspacePath: workspace })
        assert.isTrue(yield* waitUntil(() => !running(orphan)), "the dead runner's command in this workspace")
        assert.isTrue(running(elsewhere), "another workspace's is left to its own acquire")
        assert.isTrue(running(liveOwners), "a live runner's command is never touched")
        // the sweeper takes every dead runner's leftovers, still not a live one's (at least this test's
        // one: the sweep is machine-wide, and a crash suite running beside it leaves leftovers too)
        assert.isAtLeast(yield* sandbox.sweep(), 1)
        assert.isTrue(yield* waitUntil(() => !running(elsewhere)))
        assert.isTrue(running(liveOwners))
      }))

    it.scoped("the workspace's owner record decides whether an acquisition looks for leftovers", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox
        const dead = spawnSync("true").pid
        const kill = (pid: number) => {
          try {
            process.kill(-pid, "SIGKILL")
          } catch {
            // gone
          }
        }
        const acquireWith = (record: string | undefined) =>
          Effect.gen(function*() {
            const workspace = yield* tempWorkspace()
            const left = leftover(dead, workspace)
            yield* Effect.addFinalizer(() => Effect.sync(() => kill(left)))
            if (record !== undefined) recordOwner(workspace, record)
            yield* sandbox.acquire({ ...newIds(), workspacePath: workspace })
            // a kill lands within milliseconds; half a second of life means it was not sent
            return !(yield* waitUntilFor(() => !running(left), 50))
          })
        // no record: no runner process on this host ever ran a command there, nothing to look for
        assert.isTrue(yield* acquireWith(undefined), "no record")
        // the last owner is a live runner process (here: this test's parent): not a dead one's workspace
        assert.isTrue(yield* acquireWith(ownerOf(process.ppid)), "a live owner")
        // the last owner is gone: its leftovers (here: any dead runner's) are killed
        assert.isFalse(yield* acquireWith(ownerOf(dead)), "a dead owner")
        // a live process that reuses a dead owner's pid (another start time) is not that owner
        assert.isFalse(yield* acquireWith(`${process.ppid} 1`), "a reused pid")
      }))

    it.scoped("a runner that closes its sandboxes removes its record: a crash is what leaves one", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox
        const workspace = yield* tempWorkspace()
        const recorded = () => {
          try {
            return readFileSync(ownerRecordOf(workspace), "utf8")
          } catch {
            return undefined
          }
        }
        const first = yield* Scope.make()
        const second = yield* Scope.make()
        yield* Scope.extend(sandbox.acquire({ ...newIds(), workspacePath: workspace }), first)
        yield* Scope.extend(sandbox.acquire({ ...newIds(), workspacePath: workspace }), second)
        assert.strictEqual(recorded(), ownerOf(process.pid))
        // one of this process's two sandboxes there closes: the other still holds the workspace
        yield* Scope.close(first, Exit.void)
        assert.strictEqual(recorded(), ownerOf(process.pid))
        yield* Scope.close(second, Exit.void)
        assert.isUndefined(recorded(), "no sandbox of this runner is left in the workspace")
      }))
  })
  contract("docker", dockerLayer(uniqueOwner("contract")))

  layer(redactor, { excludeTestServices: true })("SandboxLayer", (it) => {
    const kindWith = (env: Record<string, string>) =>
      Effect.flatMap(Sandbox, (s) => Effect.succeed(s.kind)).pipe(
        Effect.provide(SandboxLayer.layer),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
      )

    it.effect("SANDBOX selects the adapter; unset → docker when the engine answers, else local", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* kindWith({ SANDBOX: "local" }), "local")
        assert.strictEqual(yield* kindWith({ SANDBOX: "docker", SANDBOX_OWNER: uniqueOwner("layer") }), "docker")
        assert.strictEqual(yield* kindWith({ SANDBOX_OWNER: uniqueOwner("layer") }), "docker")
        assert.strictEqual(yield* kindWith({ DOCKER_SOCKET: "/nonexistent/docker.sock" }), "local")
      }))

    it.effect("configuration is validated: host networking is refused", () =>
      Effect.gen(function*() {
        const failed = yield* Effect.flip(kindWith({ SANDBOX: "docker", SANDBOX_NETWORK: "host" }))
        assert.include(String(failed), "SANDBOX_NETWORK")
      }))
  })
})
