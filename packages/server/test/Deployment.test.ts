/**
 * The deployment files at the repository root, checked statically:
 * - docker-compose.yml renders (`docker compose config`, or Debian's docker-compose v1) with an env file made
 *   from .env.example, and the rendered services are the topology the README promises; it refuses to render
 *   without each required secret; no committed file carries a secret value.
 * - docker/service.Dockerfile passes lint-level checks (stages, non-root, HEALTHCHECK, production
 *   dependencies only, every workspace package copied); .dockerignore keeps secrets and build output out.
 * The image build itself is scripts/build-service-image.sh (too slow for the default suite).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const composeFile = Path.join(root, "docker-compose.yml")

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

interface ProcessResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly input?: string } = {}
): Effect.Effect<ProcessResult> =>
  Effect.async<ProcessResult>((resume, signal) => {
    const child = execFile(
      command,
      [...args],
      { cwd: root, env: options.env ?? process.env, signal, maxBuffer: 16 * 1024 * 1024, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 127
        resume(Effect.succeed({ code, stdout, stderr: stderr.length > 0 ? stderr : error?.message ?? "" }))
      }
    )
    if (options.input !== undefined) child.stdin?.end(options.input)
  })

/** The compose implementation on this machine: the `docker compose` plugin, else docker-compose v1. */
const composeTool = Effect.gen(function*() {
  const plugin = yield* run("docker", ["compose", "version"])
  if (plugin.code === 0) return { command: "docker", prefix: ["compose"], json: true } as const
  const v1 = yield* run("docker-compose", ["version"])
  if (v1.code === 0) return { command: "docker-compose", prefix: [], json: false } as const
  return yield* Effect.dieMessage(
    "neither `docker compose` nor `docker-compose` is installed (apt-get install -y docker-compose)"
  )
}).pipe(Effect.cached, Effect.runSync)

/** Lines `KEY=value` of an env file, commented-out ones included (with `commented: true`). */
const envEntries = (text: string) =>
  text.split("\n").flatMap((line) => {
    const match = /^\s*(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
    return match === null ? [] : [{ key: match[2] ?? "", value: match[3] ?? "", commented: match[1] !== undefined }]
  })

const isSecretName = (key: string) => /SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE_KEY/.test(key)

/**
 * Renders docker-compose.yml with `envText` as its env file (both for interpolation and the services'
 * env_file), in a temporary directory. The outer environment's values for the example's keys are removed so
 * the machine's own settings cannot leak into the result.
 */
const renderCompose = (envText: string) =>
  Effect.gen(function*() {
    const tool = yield* composeTool
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "devteam-compose-"))),
      (path) => Effect.promise(() => Fs.rm(path, { recursive: true, force: true }))
    )
    const envFile = Path.join(dir, ".env")
    yield* Effect.promise(() => Fs.writeFile(envFile, envText, { mode: 0o600 }))
    const example = yield* Effect.promise(() => Fs.readFile(Path.join(root, ".env.example"), "utf8"))
    const exampleKeys = new Set(envEntries(example).map((entry) => entry.key))
    const env: NodeJS.ProcessEnv = {
      ...Object.fromEntries(
        Object.entries(process.env).filter(([key]) => !exampleKeys.has(key) && !key.startsWith("COMPOSE_"))
      ),
      DEVTEAM_ENV_FILE: envFile
    }
    const args = [
      ...tool.prefix,
      "--env-file",
      envFile,
      "-f",
      composeFile,
      "config",
      ...(tool.json ? ["--format", "json"] : [])
    ]
    const rendered = yield* run(tool.command, args, { env })
    if (rendered.code !== 0 || tool.json) return rendered
    // docker-compose v1 prints YAML only; its own Python has PyYAML, which turns it into JSON.
    const json = yield* run("python3", [
      "-c",
      "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
    ], { input: rendered.stdout })
    return json.code === 0 ? json : { ...json, stderr: `converting compose YAML to JSON: ${json.stderr}` }
  })

// ---------------------------------------------------------------------------------------------
// The rendered compose model (v1 and v2 shapes both accepted)
// ---------------------------------------------------------------------------------------------

const StringOrNumber = Schema.Union(Schema.String, Schema.Number)

const Service = Schema.Struct({
  image: Schema.optional(Schema.String),
  build: Schema.optional(Schema.Struct({ context: Schema.String, dockerfile: Schema.optional(Schema.String) })),
  hostname: Schema.optional(Schema.String),
  restart: Schema.optional(Schema.String),
  environment: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.NullOr(StringOrNumber) })),
  healthcheck: Schema.optional(Schema.Struct({
    test: Schema.optional(Schema.Array(Schema.String)),
    disable: Schema.optional(Schema.Boolean)
  })),
  depends_on: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.Struct({ condition: Schema.String }) })
  ),
  ports: Schema.optional(Schema.Array(Schema.Union(
    Schema.String,
    Schema.Struct({ published: Schema.optional(StringOrNumber), target: StringOrNumber })
  ))),
  volumes: Schema.optional(Schema.Array(Schema.Union(
    Schema.String,
    Schema.Struct({
      type: Schema.optional(Schema.String),
      source: Schema.optional(Schema.String),
      target: Schema.String
    })
  ))),
  group_add: Schema.optional(Schema.Array(StringOrNumber))
})
type Service = typeof Service.Type

const ComposeModel = Schema.parseJson(Schema.Struct({
  services: Schema.Record({ key: Schema.String, value: Service }),
  volumes: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
}))

const envOf = (service: Service, key: string): string | undefined => {
  const value = service.environment?.[key]
  return value === undefined || value === null ? undefined : String(value)
}

const mountsOf = (service: Service): ReadonlyArray<{ readonly source: string; readonly target: string }> =>
  (service.volumes ?? []).map((volume) => {
    if (typeof volume !== "string") return { source: volume.source ?? "", target: volume.target }
    const [source = "", target = ""] = volume.split(":")
    return { source, target }
  })

const portsOf = (service: Service): ReadonlyArray<{ readonly published: string; readonly target: string }> =>
  (service.ports ?? []).map((port) => {
    if (typeof port !== "string") return { published: String(port.published ?? ""), target: String(port.target) }
    const parts = port.split(":")
    return { published: parts.length > 1 ? parts[parts.length - 2] ?? "" : "", target: parts[parts.length - 1] ?? "" }
  })

const healthcheckEnabled = (service: Service): boolean => {
  const check = service.healthcheck
  if (check === undefined || check.disable === true) return false
  const test = check.test ?? []
  return test.length > 1 && test[0] !== "NONE"
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex")

const requiredSecrets = ["AUTH_JWT_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD"] as const

/** .env.example with its empty required secrets filled in (all of them, or all but `omit`). */
const exampleEnv = (secrets: Readonly<Record<string, string>>) =>
  Effect.promise(() => Fs.readFile(Path.join(root, ".env.example"), "utf8")).pipe(
    Effect.map((text) =>
      text.split("\n").map((line) => {
        const match = /^([A-Z][A-Z0-9_]*)=$/.exec(line)
        const key = match?.[1]
        const value = key === undefined ? undefined : secrets[key]
        return value === undefined ? line : `${key}=${value}`
      }).join("\n")
    )
  )

describe("docker-compose.yml", () => {
  it.scoped("renders the documented topology from an env file made from .env.example", () =>
    Effect.gen(function*() {
      const secrets = { AUTH_JWT_SECRET: hex(32), POSTGRES_PASSWORD: hex(16), REDIS_PASSWORD: hex(16) }
      const rendered = yield* renderCompose(yield* exampleEnv(secrets))
      assert.strictEqual(rendered.code, 0, `compose config failed: ${rendered.stderr}`)
      const model = yield* Schema.decodeUnknown(ComposeModel)(rendered.stdout)
      const services = Object.entries(model.services)
      const namedVolumes = new Set(Object.keys(model.volumes ?? {}))

      // Postgres and Redis: healthchecks and named volumes on their data directories
      const postgres = model.services.postgres
      const redis = model.services.redis
      assert.isDefined(postgres)
      assert.isDefined(redis)
      for (const [service, dataDir] of [[postgres, "/var/lib/postgresql/data"], [redis, "/data"]] as const) {
        assert.isTrue(healthcheckEnabled(service), `${service.image} has a healthcheck`)
        const mount = mountsOf(service).find((m) => m.target === dataDir)
        assert.isDefined(mount, `${service.image} keeps ${dataDir} in a volume`)
        assert.isTrue(namedVolumes.has(mount?.source ?? ""), `${dataDir} is a named volume`)
      }
      assert.strictEqual(envOf(postgres, "POSTGRES_PASSWORD"), secrets.POSTGRES_PASSWORD)

      const withRole = (role: string) => services.filter(([, service]) => envOf(service, "ROLE") === role)
      const gateways = withRole("gateway")
      const runners = withRole("runner")
      const migrations = withRole("migrate")
      assert.strictEqual(gateways.length, 1, "one gateway")
      assert.strictEqual(runners.length, 2, "two runners")
      assert.strictEqual(migrations.length, 1, "one migrate one-shot")

      // every service process: one image built from docker/service.Dockerfile, the same database and bus
      const images = new Set<string | undefined>()
      for (const [name, service] of [...gateways, ...runners, ...migrations]) {
        images.add(service.image)
        assert.strictEqual(service.build?.dockerfile, "docker/service.Dockerfile", `${name} builds the service image`)
        assert.strictEqual(
          Path.resolve(root, service.build?.context ?? ""),
          root,
          `${name} builds from the repository root`
        )
        const databaseUrl = new URL(envOf(service, "DATABASE_URL") ?? "")
        assert.strictEqual(databaseUrl.hostname, "postgres", `${name}: DATABASE_URL → the postgres service`)
        assert.strictEqual(databaseUrl.password, secrets.POSTGRES_PASSWORD)
        const redisUrl = new URL(envOf(service, "REDIS_URL") ?? "")
        assert.strictEqual(redisUrl.hostname, "redis", `${name}: REDIS_URL → the redis service`)
        assert.strictEqual(redisUrl.password, secrets.REDIS_PASSWORD)
        assert.strictEqual(envOf(service, "AUTH_JWT_SECRET"), secrets.AUTH_JWT_SECRET, `${name} gets the JWT secret`)
      }
      assert.strictEqual(images.size, 1, "gateway, runners and migrate run one image")

      // migrate: a one-shot after Postgres; everything else waits for it to succeed
      const [, migrate] = migrations[0] ?? ["", postgres]
      const [migrateName] = migrations[0] ?? [""]
      assert.strictEqual(migrate.restart, "no")
      assert.isFalse(healthcheckEnabled(migrate), "a one-shot has no healthcheck")
      assert.strictEqual(migrate.depends_on?.postgres?.condition, "service_healthy")
      for (const [name, service] of [...gateways, ...runners]) {
        assert.strictEqual(
          service.depends_on?.[migrateName]?.condition,
          "service_completed_successfully",
          `${name} starts after the migrations`
        )
        assert.strictEqual(service.depends_on?.postgres?.condition, "service_healthy", `${name} waits for postgres`)
        assert.strictEqual(service.depends_on?.redis?.condition, "service_healthy", `${name} waits for redis`)
        assert.notStrictEqual(service.restart, "no", `${name} is restarted`)
      }

      // gateway: listens on all interfaces in its container, published on 8080
      const [, gateway] = gateways[0] ?? ["", postgres]
      assert.deepStrictEqual(portsOf(gateway), [{ published: "8080", target: "8080" }])
      assert.strictEqual(envOf(gateway, "DEVTEAM_RUNNER_HOST"), "0.0.0.0")
      assert.strictEqual(envOf(gateway, "DEVTEAM_RUNNER_PORT") ?? "8080", "8080")

      // runners: the Docker socket, a workspace at the same path inside and on the host, distinct addresses
      const runnerHosts = new Set<string | undefined>()
      const workspaces = new Set<string | undefined>()
      for (const [name, runner] of runners) {
        const mounts = mountsOf(runner)
        assert.isTrue(
          mounts.some((m) => m.source === "/var/run/docker.sock" && m.target === "/var/run/docker.sock"),
          `${name} mounts the Docker socket`
        )
        assert.isNotEmpty(runner.group_add ?? [], `${name} joins the socket's group`)
        assert.strictEqual(envOf(runner, "SANDBOX"), "docker")
        const workspace = envOf(runner, "WORKSPACE_DIR")
        assert.isDefined(workspace, `${name} sets WORKSPACE_DIR`)
        assert.isTrue(Path.isAbsolute(workspace ?? ""), `${name}: WORKSPACE_DIR is absolute`)
        assert.isTrue(
          mounts.some((m) => m.source === workspace && m.target === workspace),
          `${name}: WORKSPACE_DIR is bind-mounted at the same path as on the host`
        )
        workspaces.add(workspace)
        const egressDir = envOf(runner, "EGRESS_SOCKET_DIR")
        assert.isTrue(
          egressDir !== undefined && Path.isAbsolute(egressDir) &&
            mounts.some((m) => m.source === egressDir && m.target === egressDir),
          `${name}: EGRESS_SOCKET_DIR is bind-mounted at the same path as on the host`
        )
        const host = envOf(runner, "RUNNER_HOST")
        assert.strictEqual(host, name, `${name}: RUNNER_HOST is the address other runners reach it on`)
        runnerHosts.add(host)
        assert.strictEqual(envOf(runner, "RUNNER_LISTEN_HOST"), "0.0.0.0")
      }
      assert.strictEqual(runnerHosts.size, 2, "each runner has its own address")
      assert.strictEqual(workspaces.size, 2, "each runner has its own workspace directory")
    }))

  it.scoped("refuses to render while a required secret is missing", () =>
    Effect.forEach(requiredSecrets, (missing) =>
      Effect.gen(function*() {
        const secrets = Object.fromEntries(
          requiredSecrets.filter((key) => key !== missing).map((key) => [key, hex(32)])
        )
        const rendered = yield* renderCompose(yield* exampleEnv(secrets))
        assert.notStrictEqual(rendered.code, 0, `renders without ${missing}`)
        assert.include(rendered.stderr, missing)
      })))

  it.effect("commits no secret values", () =>
    Effect.gen(function*() {
      const example = yield* Effect.promise(() => Fs.readFile(Path.join(root, ".env.example"), "utf8"))
      const entries = envEntries(example)
      for (const key of requiredSecrets) {
        assert.isTrue(entries.some((entry) => entry.key === key && !entry.commented), `.env.example lists ${key}`)
      }
      for (const entry of entries.filter((e) => isSecretName(e.key))) {
        assert.strictEqual(entry.value, "", `.env.example leaves ${entry.key} empty`)
      }

      const compose = yield* Effect.promise(() => Fs.readFile(composeFile, "utf8"))
      const assignments = [...compose.matchAll(/^\s*-?\s*([A-Z][A-Z0-9_]*)\s*[:=]\s*(.*)$/gm)]
      const secretAssignments = assignments.filter((match) => isSecretName(match[1] ?? ""))
      assert.isNotEmpty(secretAssignments)
      for (const match of secretAssignments) {
        assert.match(match[2] ?? "", /^\$\{[A-Z0-9_]+:\?[^}]*\}$/, `${match[1]} comes from the env file, required`)
      }
      // a URL with credentials takes them from the env file too
      for (const url of compose.matchAll(/\w+:\/\/[^\s"']*@/g)) {
        assert.match(url[0], /:\/\/[^@]*\$\{[A-Z_]+:\?[^}]*\}@$/, `${url[0]} interpolates its password`)
      }

      const ignored = yield* run("git", ["check-ignore", "-q", ".env"])
      assert.strictEqual(ignored.code, 0, ".env is git-ignored")
      const tracked = yield* run("git", ["ls-files", "--", ".env", "**/.env"])
      assert.strictEqual(tracked.stdout.trim(), "", "no .env is committed")
    }))
})

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

interface Instruction {
  readonly keyword: string
  readonly args: string
}

interface Stage {
  readonly base: string
  readonly name: string | undefined
  readonly instructions: ReadonlyArray<Instruction>
}

/** Instructions (continuations joined, comments dropped) before the first FROM, and the stages. */
const parseDockerfile = (text: string) => {
  const instructions: Array<Instruction> = []
  let pending = ""
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue
    const joined = pending + line
    if (/\\\s*$/.test(joined)) {
      pending = joined.replace(/\\\s*$/, " ")
      continue
    }
    pending = ""
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(joined)
    if (match !== null) instructions.push({ keyword: (match[1] ?? "").toUpperCase(), args: (match[2] ?? "").trim() })
  }
  const preamble: Array<Instruction> = []
  const stages: Array<{ base: string; name: string | undefined; instructions: Array<Instruction> }> = []
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const [base = "", as, name] = instruction.args.split(/\s+/)
      stages.push({ base, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] })
    } else {
      const current = stages[stages.length - 1]
      if (current === undefined) preamble.push(instruction)
      else current.instructions.push(instruction)
    }
  }
  const parsed: { readonly preamble: ReadonlyArray<Instruction>; readonly stages: ReadonlyArray<Stage> } = {
    preamble,
    stages
  }
  return parsed
}

const readText = (relative: string) => Effect.promise(() => Fs.readFile(Path.join(root, relative), "utf8"))

const Workspaces = Schema.parseJson(Schema.Struct({ workspaces: Schema.Array(Schema.String) }))

const Manifest = Schema.parseJson(Schema.Struct({
  name: Schema.String,
  dependencies: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
}))

/** The workspace directories the server needs at run time: itself and its @devteam dependencies, transitively. */
const serverClosure = Effect.gen(function*() {
  const { workspaces } = yield* Schema.decodeUnknown(Workspaces)(yield* readText("package.json"))
  const manifests = new Map<string, { readonly dir: string; readonly deps: ReadonlyArray<string> }>()
  for (const dir of workspaces) {
    const manifest = yield* Schema.decodeUnknown(Manifest)(yield* readText(`${dir}/package.json`))
    manifests.set(manifest.name, { dir, deps: Object.keys(manifest.dependencies ?? {}) })
  }
  const seen = new Set<string>()
  const visit = (name: string): void => {
    const entry = manifests.get(name)
    if (entry === undefined || seen.has(entry.dir)) return
    seen.add(entry.dir)
    entry.deps.forEach(visit)
  }
  visit("@devteam/server")
  return [...seen]
})

const runsOf = (stage: Stage) => stage.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args)
const installsDevDependencies = (command: string) =>
  /\bnpm\s+(install|i|add)\b/.test(command) || (/\bnpm\s+ci\b/.test(command) && !/--omit[= ]dev\b/.test(command))

describe("docker/service.Dockerfile", () => {
  it.effect("is multi-stage from a substitutable node base", () =>
    Effect.gen(function*() {
      const { preamble, stages } = parseDockerfile(yield* readText("docker/service.Dockerfile"))
      assert.isTrue(
        preamble.some((i) => i.keyword === "ARG" && i.args === "NODE_IMAGE=node:26-bookworm-slim"),
        "ARG NODE_IMAGE=node:26-bookworm-slim before the first FROM"
      )
      assert.isAtLeast(stages.length, 3, "deps → build → runtime")
      const names = new Set(stages.flatMap((stage) => (stage.name === undefined ? [] : [stage.name])))
      for (const stage of stages) {
        assert.isTrue(stage.base === "${NODE_IMAGE}" || names.has(stage.base), `FROM ${stage.base}`)
      }
      assert.isTrue(
        stages.some((stage) => runsOf(stage).some((run) => /\bnpm run build\b/.test(run))),
        "a stage compiles with `npm run build`"
      )
    }))

  it.effect("runs as non-root with a HEALTHCHECK on /health, one image for every ROLE", () =>
    Effect.gen(function*() {
      const { stages } = parseDockerfile(yield* readText("docker/service.Dockerfile"))
      const final = stages[stages.length - 1]
      assert.isDefined(final)
      const of = (keyword: string) =>
        (final?.instructions ?? []).filter((i) => i.keyword === keyword).map((i) => i.args)
      const user = of("USER").at(-1)
      assert.isDefined(user, "the final stage sets USER")
      assert.notMatch(user ?? "", /^(root|0)(:|$)/, "the final USER is not root")
      const healthcheck = of("HEALTHCHECK").join(" ")
      assert.include(healthcheck, "/health")
      assert.notMatch(healthcheck, /\b(curl|wget)\b/, "the HEALTHCHECK uses node, not curl")
      assert.isTrue(of("ENV").some((env) => /(^|\s)ROLE=all(\s|$)/.test(env)), "ENV ROLE=all")
      const exposed = of("EXPOSE").join(" ").split(/\s+/)
      assert.includeMembers(exposed, ["8080", "34431"])
      assert.deepStrictEqual(of("CMD").at(-1), "[\"node\", \"packages/server/dist/bin.js\"]")
      assert.isTrue(
        runsOf(final ?? { base: "", name: undefined, instructions: [] }).some((run) =>
          /\bgit\b/.test(run) && /\btini\b/.test(run)
        ),
        "git and tini are installed"
      )
      assert.include(of("ENTRYPOINT").join(" "), "tini")
    }))

  it.effect("ships production dependencies only, and every workspace package", () =>
    Effect.gen(function*() {
      const { stages } = parseDockerfile(yield* readText("docker/service.Dockerfile"))
      const final = stages[stages.length - 1]
      assert.isDefined(final)
      const finalStage = final ?? { base: "", name: undefined, instructions: [] }
      for (const run of runsOf(finalStage)) {
        assert.isFalse(installsDevDependencies(run), `final stage: ${run}`)
      }
      const byName = new Map(
        stages.flatMap((stage) => (stage.name === undefined ? [] : [[stage.name, stage] as const]))
      )
      const copies = finalStage.instructions.filter((i) => i.keyword === "COPY").map((i) => i.args)
      const fromStages = copies.flatMap((copy) => {
        const match = /--from=(\S+)\s+(\S+)/.exec(copy)
        return match === null ? [] : [{ stage: byName.get(match[1] ?? ""), source: match[2] ?? "" }]
      })
      // node_modules come from a stage that installed with --omit=dev, nothing else but dist from the compiler's stages
      const dependencySources = fromStages.filter((copy) => !/\/dist\/?$/.test(copy.source))
      assert.isNotEmpty(dependencySources)
      for (const copy of dependencySources) {
        const runs = copy.stage === undefined ? [] : runsOf(copy.stage)
        assert.isTrue(
          runs.some((run) => /\bnpm ci\b.*--omit[= ]dev\b/.test(run)),
          `${copy.source}: from an --omit=dev install`
        )
        assert.isFalse(runs.some(installsDevDependencies), `${copy.source}: from a stage without dev dependencies`)
      }

      // every workspace: its package.json in both installs (npm ci needs them all)
      const { workspaces } = yield* Schema.decodeUnknown(Workspaces)(yield* readText("package.json"))
      assert.isNotEmpty(workspaces)
      const installStages = stages.filter((stage) => runsOf(stage).some((run) => /\bnpm ci\b/.test(run)))
      assert.isAtLeast(installStages.length, 2, "a full install for the compiler and a production one")
      for (const workspace of workspaces) {
        for (const stage of installStages) {
          assert.isTrue(
            stage.instructions.some((i) => i.keyword === "COPY" && i.args.startsWith(`${workspace}/package.json `)),
            `stage ${stage.name} copies ${workspace}/package.json before npm ci`
          )
        }
      }
      // the compiled server and every @devteam package it depends on (transitively) are in the image
      const runtimePackages = yield* serverClosure
      assert.include(runtimePackages, "packages/server")
      for (const dir of runtimePackages) {
        assert.isTrue(fromStages.some((copy) => copy.source === `/app/${dir}/dist`), `the image has ${dir}/dist`)
      }
    }))

  it.effect(".dockerignore keeps secrets, .git, node_modules and build output out of the context", () =>
    Effect.gen(function*() {
      const lines = (yield* readText(".dockerignore")).split("\n").map((line) => line.trim()).filter((line) =>
        line.length > 0 && !line.startsWith("#")
      )
      assert.strictEqual(lines[0], "*", "an allow-list: everything is excluded first")
      for (const pattern of ["**/node_modules", "**/.env", "packages/*/dist"]) {
        assert.include(lines, pattern)
      }
      for (const reincluded of lines.filter((line) => line.startsWith("!"))) {
        assert.notMatch(reincluded, /\.env|\.git\b|node_modules|\.data/, `${reincluded} re-includes nothing secret`)
      }
    }))
})
