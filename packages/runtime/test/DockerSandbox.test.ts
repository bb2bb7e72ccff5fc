/**
 * The docker sandbox's isolation, on the real engine with the locally built image: limits
 * (memory → OOM kill, pids → fork bomb contained), network none, non-root, only the workspace
 * mounted (its `.git` read-only), no process outliving its exec, idempotent reuse, teardown and the
 * orphan sweeper.
 */
import * as DockerSandbox from "@devteam/runtime/DockerSandbox"
import { labels, Sandbox } from "@devteam/runtime/Sandbox"
import type { AcquireOptions, SandboxHandle } from "@devteam/runtime/Sandbox"
import { assert, describe, layer } from "@effect/vitest"
import Docker from "dockerode"
import { Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { git, tempRepo } from "./fixtures/repos.js"
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

/** The container's live processes (pid, parent, command name), from /proc. */
const processes = (handle: SandboxHandle) =>
  Effect.map(
    handle.exec({
      command: ["sh", "-c", "for s in /proc/[0-9]*/stat; do { read -r l < \"$s\"; } 2>/dev/null && echo \"$l\"; done"],
      timeout: "20 seconds"
    }),
    (r) =>
      r.stdout.split("\n").flatMap((line) => {
        const m = /^(\d+) \((.*)\) (\S) (\d+) /.exec(line)
        return m === null || m[3] === "Z" ? [] : [{ pid: Number(m[1]), comm: m[2] ?? "", ppid: Number(m[4]) }]
      })
  )

const exists = (file: string) => Effect.promise(() => fs.stat(file).then(() => true, () => false))

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

    it.scoped("a repository's .git is read-only inside: no config, hook or ref written there; the work tree is writable", () =>
      Effect.gen(function*() {
        const repo = yield* tempRepo({ "README.md": "# r\n" })
        const config = path.join(repo, ".git", "config")
        const before = yield* Effect.promise(() => fs.readFile(config, "utf8"))
        const handle = yield* acquire({ workspacePath: repo })
        const writes = yield* handle.exec({
          command: [
            "sh",
            "-c",
            [
              "printf '[core]\\n\\tfsmonitor = touch /workspace/pwned\\n' >> .git/config && echo wrote-config",
              "git config core.hooksPath /workspace/hooks && echo wrote-hooks-path",
              "echo 'touch /workspace/pwned' > .git/hooks/pre-commit && echo wrote-hook",
              "git update-ref refs/heads/evil HEAD && echo wrote-ref",
              "mv .git .git-moved && echo moved-git",
              "true"
            ].join("; ")
          ],
          env: { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "safe.directory", GIT_CONFIG_VALUE_0: "*" },
          timeout: "20 seconds"
        })
        assert.strictEqual(writes.stdout, "", writes.stderr)
        assert.include(writes.stderr, "Read-only file system")
        // reading works: git status, the log
        const reads = yield* handle.exec({
          command: ["sh", "-c", "echo changed >> README.md && git status --porcelain && git log --format=%s"],
          env: { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "safe.directory", GIT_CONFIG_VALUE_0: "*" },
          timeout: "20 seconds"
        })
        assert.strictEqual(reads.exitCode, 0, reads.stderr)
        assert.strictEqual(reads.stdout, " M README.md\ninitial")
        // the host's git dir is as it was, and the host's git works in it
        assert.strictEqual(yield* Effect.promise(() => fs.readFile(config, "utf8")), before)
        assert.strictEqual(git(repo, "for-each-ref", "--format=%(refname)"), "refs/heads/main")
        assert.strictEqual(git(repo, "status", "--porcelain"), "M README.md")
        assert.isFalse(yield* exists(path.join(repo, "pwned")))
      }))

    it.scoped("nothing a command detached outlives its exec (setsid, nohup, a killed wrapper)", () =>
      Effect.gen(function*() {
        const repo = yield* tempRepo({ "README.md": "# r\n" })
        const handle = yield* acquire({ workspacePath: repo })
        // each writes its pid once detached (so the exec cannot end before that), then the work tree later
        const late = (name: string) => `echo $$ > /tmp/devteam/${name}.pid; sleep 2; echo late >> ${name}.txt`
        const started = (names: ReadonlyArray<string>) =>
          names.map((name) => `until [ -s /tmp/devteam/${name}.pid ]; do sleep 0.01; done`).join("\n")
        const detached = yield* handle.exec({
          command: [
            "sh",
            "-c",
            [
              `setsid sh -c '${late("setsid")}' >/dev/null 2>&1 </dev/null &`,
              `(setsid sh -c '${late("double")}' >/dev/null 2>&1 </dev/null &) &`,
              `nohup sh -c '${late("nohup")}' >/dev/null 2>&1 </dev/null &`,
              started(["setsid", "double", "nohup"]),
              "echo started"
            ].join("\n")
          ],
          timeout: "20 seconds"
        })
        assert.strictEqual(detached.stdout, "started", detached.stderr)
        // a command that kills the exec's own wrapper (its parent) before it could clean up
        const killer = yield* handle.exec({
          command: [
            "sh",
            "-c",
            `setsid sh -c '${late("killer")}' >/dev/null 2>&1 </dev/null &\n${started(["killer"])}\nkill -9 $PPID`
          ],
          timeout: "20 seconds"
        })
        assert.strictEqual(killer.exitCode, 137)
        // only init and the egress forwarder are left, besides this listing
        const left = yield* processes(handle)
        assert.deepStrictEqual(left.filter((p) => p.ppid === 1).map((p) => p.comm), ["node"], JSON.stringify(left))
        assert.isFalse(left.some((p) => p.comm === "sleep"), JSON.stringify(left))
        assert.strictEqual(left.find((p) => p.pid === 1)?.comm, "docker-init")
        yield* Effect.sleep("2500 millis")
        for (const name of ["setsid", "double", "nohup", "killer"]) {
          assert.isFalse(
            yield* exists(path.join(repo, `${name}.txt`)),
            `${name}.txt was written after its exec returned`
          )
        }
        // the egress forwarder still serves
        const egress = yield* handle.exec({
          command: ["node", "-e", "require('net').connect(3128, '127.0.0.1').on('connect', () => process.exit(0))"],
          timeout: "20 seconds"
        })
        assert.strictEqual(egress.exitCode, 0)
      }))

    it.scoped("a work tree replaced since the container started: its execs fail; the next acquire mounts the new one", () =>
      Effect.gen(function*() {
        const repo = yield* tempRepo({ "README.md": "# first\n" })
        const ids = { ...newIds(), workspacePath: repo }
        const first = yield* acquire(ids)
        assert.strictEqual(
          (yield* first.exec({ command: ["cat", "README.md"], timeout: "20 seconds" })).stdout,
          "# first"
        )
        // cloned again: a new directory moved into place
        const next = yield* tempRepo({ "README.md": "# second\n" })
        yield* Effect.promise(async () => {
          await fs.rename(repo, `${repo}-old`)
          await fs.rename(next, repo)
          await fs.mkdir(next)
        })
        yield* Effect.addFinalizer(() => Effect.promise(() => fs.rm(`${repo}-old`, { recursive: true, force: true })))
        const stale = yield* Effect.flip(first.exec({ command: ["cat", "README.md"], timeout: "20 seconds" }))
        assert.strictEqual(stale._tag, "SandboxUnavailable")
        assert.include(stale.message, "replaced")
        const second = yield* acquire(ids)
        assert.notStrictEqual(second.id, first.id)
        assert.strictEqual(
          (yield* second.exec({ command: ["cat", "README.md"], timeout: "20 seconds" })).stdout,
          "# second"
        )
        // a .git that is a link is never mounted (the engine would mount its target)
        yield* Effect.promise(async () => {
          await fs.rename(path.join(repo, ".git"), `${repo}-git`)
          await fs.symlink(`${repo}-git`, path.join(repo, ".git"))
        })
        yield* Effect.addFinalizer(() => Effect.promise(() => fs.rm(`${repo}-git`, { recursive: true, force: true })))
        const linked = yield* Effect.flip(acquire({ workspacePath: repo }))
        assert.strictEqual(linked._tag, "SandboxUnavailable")
        assert.include(linked.message, ".git is not a directory")
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
