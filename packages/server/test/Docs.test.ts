/**
 * The repository's own docs stay true: the API guide's route reference is the current HttpApi,
 * every configuration variable the code reads is documented, every task-list example parses
 * cleanly, and no doc points outside the repository (a clone has nothing beside it).
 */
import { parse } from "@devteam/domain/TaskListParser"
import { withGeneratedRoutes } from "@devteam/server/ApiDoc"
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const repoRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const read = (file: string) => Fs.readFileSync(Path.join(repoRoot, file), "utf8")

const filesUnder = (dir: string, ext: string): Array<string> =>
  Fs.readdirSync(Path.join(repoRoot, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => Path.relative(repoRoot, Path.join(e.parentPath, e.name)))

const docs = [
  "README.md",
  ...filesUnder("docs", ".md"),
  ...Fs.readdirSync(Path.join(repoRoot, "packages")).flatMap(
    (p) => Fs.existsSync(Path.join(repoRoot, "packages", p, "README.md")) ? [`packages/${p}/README.md`] : []
  )
]

describe("docs/", () => {
  it("docs/api.md's route reference is rendered from the current HttpApi (else: npm run docs:api)", () => {
    const doc = read("docs/api.md")
    expect(doc, "docs/api.md is out of date: run `npm run docs:api`").toBe(withGeneratedRoutes(doc))
    expect(doc).toContain("#### `POST /api/devteam/automation/initialize`")
    expect(doc).toContain("#### `GET /ws/devteam`")
    // each group and route is rendered once (websocket and docs were once listed twice)
    const headings = doc.split("\n").filter((line) => line.startsWith("### ") || line.startsWith("#### `"))
    expect(headings.filter((h, i) => headings.indexOf(h) !== i)).toEqual([])
  })

  it("every environment variable read through Config in packages/*/src is in docs/configuration.md", () => {
    const config = read("docs/configuration.md")
    const sources = Fs.readdirSync(Path.join(repoRoot, "packages")).flatMap((p) =>
      Fs.existsSync(Path.join(repoRoot, "packages", p, "src")) ? filesUnder(`packages/${p}/src`, ".ts") : []
    )
    const names = new Set<string>()
    for (const file of sources) {
      const text = read(file)
      for (const m of text.matchAll(/Config\.\w+\(\s*"([A-Z][A-Z0-9_]+)"/g)) names.add(m[1] ?? "")
      for (const m of text.matchAll(/Config\.literal\([^)]*\)\(\s*"([A-Z][A-Z0-9_]+)"/g)) names.add(m[1] ?? "")
      for (const m of text.matchAll(/Config\.\w+\([^()]*(?:\([^()]*\))?[^()]*,\s*"([A-Z][A-Z0-9_]+)"\s*\)/g)) {
        names.add(m[1] ?? "") // Config.array(Config.string(), "NAME")
      }
      // helpers that wrap a Config (`hostList("GIT_HOSTS", …)`)
      if (text.includes("Config.")) {
        for (const m of text.matchAll(/(\w+)\(\s*"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)) {
          if (m[1] !== "Literal") names.add(m[2] ?? "")
        }
      }
    }
    // the scan finds what it must (a broken regex would make this test pass vacuously)
    for (
      const known of [
        "LOG_LEVEL",
        "ROLE",
        "SANDBOX_CPUS",
        "DATABASE_URL",
        "DEVTEAM_URL",
        "GIT_HOSTS",
        "CLAUDE_CODE_TOOLS"
      ]
    ) {
      expect(names).toContain(known)
    }
    const missing = [...names].filter((name) => !new RegExp("`" + name + "`").test(config)).sort()
    expect(missing, "add these variables to docs/configuration.md").toEqual([])
  })

  it("every example in docs/task-list.md parses without a diagnostic and yields atomic tasks", () => {
    const examples = [...read("docs/task-list.md").matchAll(/```md\n([\s\S]*?)```/g)].map((m) => m[1] ?? "")
    expect(examples.length).toBeGreaterThanOrEqual(4)
    for (const example of examples) {
      const list = parse(example)
      expect(list.diagnostics, example).toEqual([])
      expect(list.tasks.filter((t) => t.type === "atomic").length, example).toBeGreaterThan(0)
    }
    const [first] = examples
    expect(parse(first ?? "").tasks.filter((t) => t.type === "atomic").map((t) => t.id)).toEqual([
      "1.1.1",
      "1.1.2",
      "1.2.1"
    ])
  })

  it("README and docs link only to files in the repository (no ../shared, every relative link exists)", () => {
    for (const file of docs) {
      const text = read(file)
      expect(text, file).not.toMatch(/\.\.\/shared|\.\.\/seeds/)
      // examples in code blocks and spans are not links
      const prose = text.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "")
      for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] ?? ""
        if (/^[a-z]+:/.test(target) || target.startsWith("#")) continue
        const path = Path.resolve(Path.dirname(Path.join(repoRoot, file)), target.split("#")[0] ?? "")
        expect(path.startsWith(repoRoot + Path.sep), `${file} → ${target} leaves the repository`).toBe(true)
        expect(Fs.existsSync(path), `${file} → ${target} does not exist`).toBe(true)
      }
    }
  })
})
