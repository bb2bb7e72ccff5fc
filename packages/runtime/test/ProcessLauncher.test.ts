/**
 * ProcessLauncher: the same contract from this process (`direct`) and from the helper process
 * (`layerHelper`) — real child processes (sh, sleep, cat), real process groups, a real helper.
 */
import * as ProcessLauncher from "@devteam/runtime/ProcessLauncher"
import { tempDir } from "@devteam/runtime/testing/GitRemote"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"

const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }

const request = (
  script: string,
  options: Partial<ProcessLauncher.LaunchRequest> = {}
): ProcessLauncher.LaunchRequest => ({
  file: "sh",
  args: ["-c", script],
  cwd: "/",
  env,
  stdin: "",
  timeoutMs: 10_000,
  maxOutputBytes: 1024 * 1024,
  ...options
})

/** Running (a zombie waiting for a reaper counts as gone: it was killed). */
const alive = (pid: number) => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return false
  }
}

/** Polls until `pid` is gone (true) or `ms` pass (false). */
const goneWithin = (pid: number, ms: number) =>
  Effect.promise(async () => {
    for (const end = Date.now() + ms; Date.now() < end;) {
      if (!alive(pid)) return true
      await new Promise((r) => setTimeout(r, 20))
    }
    return !alive(pid)
  })

/** The pid a command wrote to `file`, once it is there. */
const pidIn = (file: string) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500; i++) {
      const text = Fs.existsSync(file) ? Fs.readFileSync(file, "utf8").trim() : ""
      if (text !== "") return Number(text)
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error(`${file} never written`)
  })

/** What a started command reported, as effects that complete when it did. */
const started = (req: ProcessLauncher.LaunchRequest) =>
  Effect.gen(function*() {
    const launcher = yield* ProcessLauncher.ProcessLauncher
    const exit = yield* Deferred.make<number>()
    const end = yield* Deferred.make<void>()
    const chunks: Array<{ stream: "stdout" | "stderr"; text: string }> = []
    let ended = false
    let afterEnd = false
    const pid = yield* launcher.start({ file: req.file, args: req.args, cwd: req.cwd, env: req.env }, {
      onOutput: (stream, text) => {
        if (ended) afterEnd = true
        chunks.push({ stream, text })
      },
      onExit: (code) => Deferred.unsafeDone(exit, Exit.succeed(code)),
      onEnd: () => {
        ended = true
        Deferred.unsafeDone(end, Exit.void)
      }
    })
    return {
      pid,
      exit: Deferred.await(exit),
      end: Deferred.await(end),
      text: (stream: "stdout" | "stderr") => chunks.filter((c) => c.stream === stream).map((c) => c.text).join(""),
      outputAfterEnd: () => afterEnd
    }
  })

const launchers = [
  { name: "direct", layer: Layer.succeed(ProcessLauncher.ProcessLauncher, ProcessLauncher.direct) },
  { name: "helper", layer: ProcessLauncher.layerHelper }
] as const

for (const { layer, name } of launchers) {
  describe(`ProcessLauncher (${name})`, () => {
    const run = (req: ProcessLauncher.LaunchRequest) =>
      Effect.flatMap(ProcessLauncher.ProcessLauncher, (launcher) => launcher.run(req))

    it.scopedLive("exit code, both streams and stdin; a non-zero exit is a result", () =>
      Effect.gen(function*() {
        const result = yield* run(request("cat; echo to-stderr >&2; exit 3", { stdin: "to-stdin" }))
        assert.deepStrictEqual(result, { exitCode: 3, stdout: "to-stdin", stderr: "to-stderr\n" })
        const dir = yield* tempDir()
        const inDir = yield* run(request("pwd", { cwd: dir }))
        assert.strictEqual(inDir.stdout.trim(), Fs.realpathSync(dir))
      }).pipe(Effect.provide(layer)))

    it.scopedLive("a command ended by a signal exits 128 + the signal's number, as a shell reports it", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* run(request("kill -TERM $$"))).exitCode, 128 + 15)
        assert.strictEqual((yield* run(request("kill -KILL $$"))).exitCode, 128 + 9)
        assert.strictEqual((yield* run(request("kill -HUP $$"))).exitCode, 128 + 1)
      }).pipe(Effect.provide(layer)))

    it.scopedLive("the command sees exactly the environment it is given", () =>
      Effect.gen(function*() {
        const result = yield* run(request("env", { env: { ...env, ONLY_THIS: "yes" } }))
        const names = result.stdout.split("\n").filter((l) => l !== "").map((l) => l.split("=")[0])
        assert.includeMembers(names, ["PATH", "ONLY_THIS"])
        assert.notInclude(names, "HOME")
        assert.notInclude(names, "NODE_OPTIONS")
      }).pipe(Effect.provide(layer)))

    it.scopedLive("output past the cap is dropped, the command still completes", () =>
      Effect.gen(function*() {
        const result = yield* run(request("head -c 3000000 /dev/zero | tr '\\000' a", { maxOutputBytes: 1000 }))
        assert.strictEqual(result.exitCode, 0)
        assert.isAtLeast(result.stdout.length, 1000)
        assert.isBelow(result.stdout.length, 1_000_000)
      }).pipe(Effect.provide(layer)))

    it.scopedLive("a command that cannot start is a spawn error", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(run(request("", { file: "/nonexistent/no-such-command", args: [] })))
        assert.strictEqual(error.reason, "spawn")
        assert.include(error.detail, "ENOENT")
        const refused = yield* Effect.flip(run(request("", { file: "echo", args: ["nul\u0000byte"] })))
        assert.strictEqual(refused.reason, "spawn")
      }).pipe(Effect.provide(layer)))

    it.scopedLive("the timeout kills the whole process group", () =>
      Effect.gen(function*() {
        const pidFile = Path.join(yield* tempDir(), "pid")
        const error = yield* Effect.flip(run(request(`sleep 30 & echo $! > ${pidFile}; wait`, { timeoutMs: 300 })))
        assert.strictEqual(error.reason, "timeout")
        assert.isTrue(yield* goneWithin(yield* pidIn(pidFile), 3000))
      }).pipe(Effect.provide(layer)))

    it.scopedLive("a started command streams its output, then reports its exit and the end of its output", () =>
      Effect.gen(function*() {
        const seen = yield* started(request("echo one; echo two >&2; printf 'três'; exit 4"))
        const [exitCode] = yield* Effect.all([seen.exit, seen.end])
        assert.strictEqual(exitCode, 4)
        assert.strictEqual(seen.text("stdout"), "one\ntrês")
        assert.strictEqual(seen.text("stderr"), "two\n")
        assert.isFalse(seen.outputAfterEnd())
      }).pipe(Effect.provide(layer)))

    it.scopedLive("a started command leads its own group: the caller ends it with a signal, leftovers die with it", () =>
      Effect.gen(function*() {
        const pidFile = Path.join(yield* tempDir(), "pid")
        const seen = yield* started(request(`sleep 30 & echo $! > ${pidFile}; wait`))
        const sleeper = yield* pidIn(pidFile)
        assert.strictEqual(
          Number(Fs.readFileSync(`/proc/${sleeper}/stat`, "utf8").split(") ")[1]?.split(" ")[3]),
          seen.pid
        )
        process.kill(-seen.pid, "SIGTERM")
        assert.strictEqual(yield* seen.exit, 128 + 15)
        assert.isTrue(yield* goneWithin(sleeper, 3000))
        // a command that exits leaving a background process: the group is killed at its exit
        const leftFile = Path.join(yield* tempDir(), "pid")
        const quick = yield* started(request(`sleep 30 > /dev/null 2>&1 & echo $! > ${leftFile}`))
        assert.strictEqual(yield* quick.exit, 0)
        assert.isTrue(yield* goneWithin(yield* pidIn(leftFile), 3000))
      }).pipe(Effect.provide(layer)))

    it.scopedLive("a command that cannot start is an error with the system's code", () =>
      Effect.gen(function*() {
        const launcher = yield* ProcessLauncher.ProcessLauncher
        const error = yield* Effect.flip(launcher.start(
          { file: "/nonexistent/no-such-command", args: [], cwd: "/", env },
          { onOutput: () => {}, onExit: () => {}, onEnd: () => {} }
        ))
        assert.strictEqual(error.reason, "spawn")
        assert.strictEqual(error.code, "ENOENT")
      }).pipe(Effect.provide(layer)))

    it.scopedLive("an interrupted caller's command is killed with its children", () =>
      Effect.gen(function*() {
        const pidFile = Path.join(yield* tempDir(), "pid")
        const fiber = yield* Effect.fork(run(request(`sleep 30 & echo $! > ${pidFile}; wait`)))
        const pid = yield* pidIn(pidFile)
        yield* Fiber.interrupt(fiber)
        assert.isTrue(yield* goneWithin(pid, 3000))
      }).pipe(Effect.provide(layer)))
  })
}

describe("ProcessLauncher (helper process)", () => {
  const run = (launcher: ProcessLauncher.Launcher, script: string) => launcher.run(request(script))
  /** The pid of the process that started the command. */
  const parentOf = (launcher: ProcessLauncher.Launcher) =>
    Effect.map(run(launcher, "echo $PPID"), (r) => Number(r.stdout.trim()))

  it.scopedLive("commands start from the helper, which holds none of the service's environment", () =>
    Effect.gen(function*() {
      process.env["DEVTEAM_LAUNCHER_CANARY"] = "service-secret"
      const launcher = yield* ProcessLauncher.makeHelper
      const helperPid = yield* parentOf(launcher)
      assert.notStrictEqual(helperPid, process.pid)
      const environ = Fs.readFileSync(`/proc/${helperPid}/environ`, "utf8")
      assert.notInclude(environ, "service-secret")
      delete process.env["DEVTEAM_LAUNCHER_CANARY"]
    }))

  it.scopedLive("started commands come from the helper too", () =>
    Effect.gen(function*() {
      const launcher = yield* ProcessLauncher.makeHelper
      const helperPid = yield* parentOf(launcher)
      const seen = yield* started(request("echo $PPID")).pipe(
        Effect.provideService(ProcessLauncher.ProcessLauncher, launcher)
      )
      yield* seen.end
      assert.strictEqual(Number(seen.text("stdout").trim()), helperPid)
    }))

  it.scopedLive("a helper that dies ends its started commands: their group is killed, they exit 137 and say why", () =>
    Effect.gen(function*() {
      const launcher = yield* ProcessLauncher.makeHelper
      const helperPid = yield* parentOf(launcher)
      const pidFile = Path.join(yield* tempDir(), "pid")
      const seen = yield* started(request(`sleep 30 & echo $! > ${pidFile}; wait`)).pipe(
        Effect.provideService(ProcessLauncher.ProcessLauncher, launcher)
      )
      const sleeper = yield* pidIn(pidFile)
      process.kill(helperPid, "SIGKILL")
      assert.strictEqual(yield* seen.exit, 137)
      yield* seen.end
      assert.include(seen.text("stderr"), "the process launcher exited")
      assert.isTrue(yield* goneWithin(sleeper, 3000))
      assert.isTrue(yield* goneWithin(seen.pid, 3000))
    }))

  it.scopedLive("a helper that dies fails its running commands and is started again", () =>
    Effect.gen(function*() {
      const launcher = yield* ProcessLauncher.makeHelper
      const first = yield* parentOf(launcher)
      const pending = yield* Effect.fork(run(launcher, "sleep 30"))
      yield* Effect.sleep("100 millis")
      process.kill(first, "SIGKILL")
      const error = yield* Effect.flip(Fiber.join(pending))
      assert.strictEqual(error.reason, "spawn")
      assert.include(error.detail, "the process launcher exited")
      const second = yield* parentOf(launcher)
      assert.notStrictEqual(second, first)
      assert.isTrue(yield* goneWithin(first, 3000))
    }))

  it.scopedLive("a helper that stops answering is given up at the command's timeout plus a grace, and replaced", () =>
    Effect.gen(function*() {
      const launcher = yield* ProcessLauncher.makeHelperWith({ answerGrace: "300 millis" })
      const first = yield* parentOf(launcher)
      process.kill(first, "SIGSTOP")
      const error = yield* Effect.flip(launcher.run(request("echo never", { timeoutMs: 200 })))
      assert.strictEqual(error.reason, "timeout")
      assert.include(error.detail, "did not answer")
      assert.isTrue(yield* goneWithin(first, 3000))
      const second = yield* parentOf(launcher)
      assert.notStrictEqual(second, first)
    }))

  it.live("closing the scope stops the helper and what it still runs", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const launcher = yield* Scope.extend(ProcessLauncher.makeHelper, scope)
      const helperPid = yield* parentOf(launcher)
      const pidFile = Path.join(Fs.mkdtempSync(Path.join(process.env["TMPDIR"] ?? "/tmp", "launcher-")), "pid")
      const running = yield* Effect.fork(run(launcher, `sleep 30 & echo $! > ${pidFile}; wait`))
      const sleeper = yield* pidIn(pidFile)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Exit.isFailure(yield* Fiber.await(running)))
      assert.isTrue(yield* goneWithin(sleeper, 3000))
      assert.isTrue(yield* goneWithin(helperPid, 3000))
      // and no new helper afterwards
      const late = yield* Effect.flip(run(launcher, "echo late"))
      assert.include(late.detail, "shut down")
      Fs.rmSync(Path.dirname(pidFile), { recursive: true, force: true })
    }))
})
