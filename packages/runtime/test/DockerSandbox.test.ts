/**
 * The docker sandbox's isolation, on the real engine with the locally built image: limits
 * (memory → OOM kill, pids → fork bomb contained), network none, non-root, only the workspace
 * mounted, idempotent reuse, teardown and the orphan sweeper.
 */
import * as DockerSandbox from "@devteam/runtime/DockerSandbox"
import { labels, Sandbox } from "@devteam/runtime/Sandbox"
import type { AcquireOptions } from "@devteam/runtime/Sandbox"
import { assert, describe, layer } from "@effect/vitest"
import Docker from "dockerode"
import { Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import {
  dockerSettings,
  ensureImage,
  newIds,
  redactor,
  tempWorkspace,
  testImage,
  uniqueOwner
} from "./fixtures/sandboxes.js"

const docker = new Docker({ socketPath: "/var/run/docker.sock" })
const owner = uniqueOwner("docker")

const inspectOrNull = (id: string) => Effect.promise(() => docker.getContainer(id).inspect().then((i) => i, () => null))

const sandboxLayer = Layer.unwrapEffect(Effect.sync(() => {
  ensureImage()
  return DockerSandbox.layerWith(dockerSettings(owner)).pipe(Layer.provide(redactor))
}))

/** A sandbox whose scope the test closes itself. */
const acquireIn = (scope: Scope.Scope, options: AcquireOptions) =>
  Effect.flatMap(Sandbox, (s) => s.acquire(options)).pipe(Scope.extend(scope))

const acquire = (options: Partial<AcquireOptions> = {}) =>
  Effect.gen(function*() {
    const workspacePath = options.workspacePath ?? (yield* tempWorkspace())
    const sandbox = yield* Sandbox
    return yield* sandbox.acquire({ ...newIds(), ...options, workspacePath })
  })

describe("DockerSandbox", () => {
  layer(sandboxLayer, { timeout: "180 seconds", excludeTestServices: true })((it) => {
    it.scoped("runs as non-root with an init process, the configured limits and labels", () =>
      Effect.gen(function*() {
        const ids = newIds()
        const handle = yield* acquire(ids)
        const id = yield* handle.exec({ command: ["id", "-u"], timeout: "20 seconds" })
        assert.strictEqual(id.stdout, "1000")
        const info = yield* inspectOrNull(handle.id)
        assert.isNotNull(info)
        if (info === null) return
        assert.isTrue(info.State.Running)
        assert.strictEqual(info.HostConfig.Init, true)
        assert.strictEqual(info.HostConfig.NanoCpus, 1e9)
        assert.strictEqual(info.HostConfig.Memory, 2048 * 1024 * 1024)
        assert.strictEqual(info.HostConfig.PidsLimit, 512)
        assert.strictEqual(info.HostConfig.NetworkMode, "none")
        assert.deepStrictEqual(info.HostConfig.CapDrop, ["ALL"])
        assert.strictEqual(info.Config.Labels[labels.project], ids.projectId)
        assert.strictEqual(info.Config.Labels[labels.execution], ids.executionId)
        assert.strictEqual(info.Config.Labels[labels.owner], owner)
        assert.strictEqual(info.Config.Image, testImage)
        const pid1 = yield* handle.exec({ command: ["cat", "/proc/1/comm"], timeout: "20 seconds" })
        assert.strictEqual(pid1.stdout, "docker-init")
      }))

    it.scoped("a memory hog is OOM-killed at the memory limit and reported as such", () =>
      Effect.gen(function*() {
        const handle = yield* acquire({ resources: { memoryMiB: 128 } })
        const hog = yield* handle.exec({
          command: ["node", "-e", "const a = []; for (;;) a.push(Buffer.alloc(8 * 1024 * 1024, 1))"],
          timeout: "60 seconds"
        })
        assert.strictEqual(hog.exitCode, 137)
        assert.isTrue(hog.oomKilled)
        assert.isFalse(hog.timedOut)
        // A SIGKILL that is not the OOM killer's is not reported as OOM.
        const killed = yield* handle.exec({ command: ["sh", "-c", "kill -9 $$"], timeout: "20 seconds" })
        assert.strictEqual(killed.exitCode, 137)
        assert.isFalse(killed.oomKilled)
        const after = yield* handle.exec({ command: ["echo", "alive"], timeout: "20 seconds" })
        assert.strictEqual(after.stdout, "alive")
      }))

    it.scoped("a fork bomb is contained by the pids limit and the sandbox stays usable", () =>
      Effect.gen(function*() {
        const handle = yield* acquire({ resources: { pidsLimit: 64 } })
        const max = yield* handle.exec({
          command: ["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"],
          timeout: "20 seconds"
        })
        assert.strictEqual(max.stdout, "64")
        // the sleep starts before the bomb: once the bomb holds every pid, the shell could not start it
        const bomb = yield* handle.exec({
          command: ["sh", "-c", "sleep 60 & s=$!; f() { f | f & }; f; wait $s"],
          timeout: "4 seconds"
        })
        assert.isTrue(bomb.timedOut)
        const stats = yield* Effect.promise(() => docker.getContainer(handle.id).stats({ stream: false }))
        assert.isAtMost(stats.pids_stats?.current ?? 0, 64)
        const after = yield* handle.exec({
          command: ["sh", "-c", "echo alive; ls /proc | grep -c '^[0-9]'"],
          timeout: "20 seconds"
        })
        assert.strictEqual(after.exitCode, 0)
        const [alive, count] = after.stdout.split("\n")
        assert.strictEqual(alive, "alive")
        assert.isBelow(Number(count), 10, "the bomb's processes are gone")
      }))

    it.scoped("network none: no interface but loopback, no route out; localhost resolves (test runners listen on it)", () =>
      Effect.gen(function*() {
        const handle = yield* acquire()
        const ifaces = yield* handle.exec({ command: ["ls", "/sys/class/net"], timeout: "20 seconds" })
        assert.strictEqual(ifaces.stdout, "lo")
        const connect = yield* handle.exec({
          command: [
            "node",
            "-e",
            "require('net').connect(80, '1.1.1.1').on('connect', () => { console.log('connected'); process.exit(0) })" +
            ".on('error', (e) => { console.log(e.code); process.exit(1) })"
          ],
          timeout: "20 seconds"
        })
        assert.strictEqual(connect.exitCode, 1)
        assert.strictEqual(connect.stdout, "ENETUNREACH")
        const local = yield* handle.exec({
          command: [
            "node",
            "-e",
            "const s = require('net').createServer().listen(0, 'localhost', () => { console.log(s.address().address); s.close() })"
          ],
          timeout: "20 seconds"
        })
        assert.strictEqual(local.exitCode, 0, local.stderr)
        assert.oneOf(local.stdout, ["127.0.0.1", "::1"])
      }))

    it.scoped("only the workspace is mounted from the host", () =>
      Effect.gen(function*() {
        const parent = yield* tempWorkspace("devteam-parent-")
        const workspacePath = path.join(parent, "ws")
        yield* Effect.promise(async () => {
          await fs.mkdir(workspacePath, { mode: 0o777 })
          await fs.chmod(workspacePath, 0o777)
          await fs.writeFile(path.join(parent, "host-secret.txt"), "not for the sandbox")
          await fs.writeFile(path.join(workspacePath, "visible.txt"), "hello")
        })
        const handle = yield* acquire({ workspacePath })
        const visible = yield* handle.exec({ command: ["cat", "visible.txt"], timeout: "20 seconds" })
        assert.strictEqual(visible.stdout, "hello")
        const write = yield* handle.exec({ command: ["sh", "-c", "echo out > written.txt"], timeout: "20 seconds" })
        assert.strictEqual(write.exitCode, 0)
        assert.strictEqual(
          yield* Effect.promise(() => fs.readFile(path.join(workspacePath, "written.txt"), "utf8")),
          "out\n"
        )
        const escape = yield* handle.exec({
          command: ["sh", "-c", "cat ../host-secret.txt /workspace/../host-secret.txt; ls /var/run/docker.sock"],
          timeout: "20 seconds"
        })
        assert.notStrictEqual(escape.exitCode, 0)
        assert.notInclude(escape.stdout, "not for the sandbox")
        // Bind mounts from a host filesystem: the workspace, the egress proxy's directory and the project's download
        // cache (its own directory only), plus what the engine itself provides
        // per container — /etc/{hosts,hostname,resolv.conf} and, read-only, its init binary.
        const mounts = yield* handle.exec({ command: ["cat", "/proc/self/mountinfo"], timeout: "20 seconds" })
        const virtual = new Set(["overlay", "proc", "tmpfs", "devpts", "mqueue", "sysfs", "cgroup", "cgroup2", "shm"])
        const hostMounts = mounts.stdout.split("\n").flatMap((line) => {
          const [left, right] = line.split(" - ")
          const fstype = right?.split(" ")[0] ?? ""
          const mountPoint = left?.split(" ")[4] ?? ""
          return virtual.has(fstype) || mountPoint === "" ? [] : [mountPoint]
        })
        const engine = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/sbin/docker-init", "/usr/sbin/docker-init"]
        assert.deepStrictEqual(hostMounts.filter((m) => !engine.includes(m)).sort(), [
          "/cache",
          "/run/devteam-egress",
          "/workspace"
        ])
        assert.strictEqual(handle.cacheDir, "/cache")
        // the egress proxy's directory (its socket and the forwarder) is read-only
        const egress = mounts.stdout.split("\n").find((l) => l.split(" ")[4] === "/run/devteam-egress")
        assert.match(egress ?? "", /^\S+ \S+ \S+ \S+ \S+ ro[, ]/, "the egress directory is mounted read-only")
        const init = mounts.stdout.split("\n").find((l) => l.split(" ")[4]?.endsWith("/docker-init"))
        assert.match(init ?? "", /^\S+ \S+ \S+ \S+ \S+ ro[, ]/, "the init binary is mounted read-only")
      }))

    it.effect("an existing labelled container is reused; teardown removes it and waits until gone", () =>
      Effect.gen(function*() {
        const workspacePath = yield* tempWorkspace().pipe(Scope.extend(yield* Scope.make()))
        const ids = { ...newIds(), workspacePath }
        const first = yield* Scope.make()
        const second = yield* Scope.make()
        const a = yield* acquireIn(first, ids)
        const b = yield* acquireIn(second, ids)
        assert.strictEqual(a.id, b.id)
        yield* Scope.close(second, Exit.void)
        assert.isNotNull(yield* inspectOrNull(a.id), "still held by the first scope")
        yield* Scope.close(first, Exit.void)
        assert.isNull(yield* inspectOrNull(a.id), "gone as soon as the finalizer returns")
      }))

    it.effect("a container left by an earlier runner process is replaced, with the command still running in it", () =>
      Effect.gen(function*() {
        const workspacePath = yield* tempWorkspace().pipe(Scope.extend(yield* Scope.make()))
        const ids = { ...newIds(), workspacePath }
        // the runner that dies: its container, with the interrupted step's command still running
        const deadRunner = yield* DockerSandbox.make(dockerSettings(owner)).pipe(Effect.provide(redactor))
        const a = yield* deadRunner.acquire(ids).pipe(Scope.extend(yield* Scope.make()))
        yield* Effect.promise(async () => {
          const exec = await docker.getContainer(a.id).exec({ Cmd: ["sleep", "1000"] })
          await exec.start({ Detach: true })
        })
        const top = (id: string) =>
          Effect.promise(() => docker.getContainer(id).top()).pipe(
            Effect.map((t) => (t.Processes ?? []).map((p: ReadonlyArray<string>) => p.join(" ")).join("\n"))
          )
        assert.include(yield* top(a.id), "sleep 1000")
        // the restarted runner re-runs the step
        const restarted = yield* DockerSandbox.make(dockerSettings(owner)).pipe(Effect.provide(redactor))
        const scope = yield* Scope.make()
        const c = yield* restarted.acquire(ids).pipe(Scope.extend(scope))
        assert.notStrictEqual(c.id, a.id)
        assert.isNull(yield* inspectOrNull(a.id), "the old container and its command are gone")
        assert.notInclude(yield* top(c.id), "sleep 1000")
        yield* Scope.close(scope, Exit.void)
        assert.isNull(yield* inspectOrNull(c.id))
      }))

    it.effect("a container is reused only for the same workspace: after a failover another work tree gets its own", () =>
      Effect.gen(function*() {
        const keep = yield* Scope.make()
        const ids = newIds()
        const deadRunnerTree = yield* tempWorkspace().pipe(Scope.extend(keep))
        const survivorTree = yield* tempWorkspace().pipe(Scope.extend(keep))
        const first = yield* Scope.make()
        const a = yield* acquireIn(first, { ...ids, workspacePath: deadRunnerTree })
        const second = yield* Scope.make()
        const b = yield* acquireIn(second, { ...ids, workspacePath: survivorTree })
        assert.notStrictEqual(a.id, b.id)
        const mounts = yield* Effect.promise(() => docker.getContainer(b.id).inspect())
        assert.deepStrictEqual(mounts.Mounts.filter((m) => m.Destination === "/workspace").map((m) => m.Source), [
          survivorTree
        ])
        yield* Scope.close(second, Exit.void)
        yield* Scope.close(first, Exit.void)
        yield* Scope.close(keep, Exit.void)
      }))

    it.effect("the sweeper removes this owner's orphans, not live sandboxes nor others' containers", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox
        const scope = yield* Scope.make()
        const live = yield* acquireIn(scope, {
          ...newIds(),
          workspacePath: yield* tempWorkspace().pipe(Scope.extend(scope))
        })
        const create = (who: string) =>
          Effect.promise(() =>
            docker.createContainer({
              Image: testImage,
              Cmd: ["sleep", "infinity"],
              Labels: { [labels.sandbox]: "1", [labels.owner]: who, [labels.project]: "orphan/p" },
              HostConfig: { NetworkMode: "none", Init: true }
            }).then(async (c) => {
              await c.start()
              return c.id
            })
          )
        const orphan = yield* create(owner)
        const foreign = yield* create(`${owner}-other`)
        const removed = yield* sandbox.sweep()
        assert.strictEqual(removed, 1)
        assert.isNull(yield* inspectOrNull(orphan))
        assert.isNotNull(yield* inspectOrNull(foreign))
        assert.isNotNull(yield* inspectOrNull(live.id))
        yield* Effect.promise(() => docker.getContainer(foreign).remove({ force: true }))
        yield* Scope.close(scope, Exit.void)
        assert.isNull(yield* inspectOrNull(live.id))
      }))

    it.effect("health says docker, isolated, with the image", () =>
      Effect.gen(function*() {
        const health = yield* Effect.flatMap(Sandbox, (s) => s.health())
        assert.isTrue(health.available)
        assert.isTrue(health.isolation)
        assert.strictEqual(health.image, testImage)
        const missing = yield* DockerSandbox.make({ ...dockerSettings(owner), image: "devteam-no-such-image:x" }).pipe(
          Effect.provide(redactor)
        )
        const down = yield* missing.health()
        assert.isFalse(down.available)
        const ws = yield* tempWorkspace().pipe(Scope.extend(yield* Scope.make()))
        const failed = yield* Effect.exit(Effect.scoped(missing.acquire({ ...newIds(), workspacePath: ws })))
        assert.isTrue(Exit.isFailure(failed))
      }))
  })
})
