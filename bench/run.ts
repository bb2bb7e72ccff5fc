/**
 * `npm run bench`: runs every `bench/*.bench.ts` (or those named on the command line) in turn and
 * writes the figures to `bench/results/latest.json` and a timestamped copy, so runs can be compared.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises"
import { cpus, totalmem } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

type Bench = { readonly run: () => Promise<Record<string, unknown>> }

const isBench = (mod: unknown): mod is Bench =>
  typeof mod === "object" && mod !== null && "run" in mod && typeof mod.run === "function"

const here = dirname(fileURLToPath(import.meta.url))
const only = process.argv.slice(2)

const files = (await readdir(here))
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => only.length === 0 || only.some((name) => f.startsWith(name)))
  .sort()

const results: Record<string, unknown> = {}
for (const file of files) {
  const name = file.replace(/\.bench\.ts$/, "")
  console.log(`bench: ${name} …`)
  const started = Date.now()
  try {
    const mod: unknown = await import(pathToFileURL(join(here, file)).href)
    if (!isBench(mod)) throw new Error(`${file} does not export run()`)
    results[name] = { ...(await mod.run()), wallSeconds: (Date.now() - started) / 1000 }
  } catch (error) {
    results[name] = { error: error instanceof Error ? error.message : String(error) }
  }
  console.log(`bench: ${name} done`, JSON.stringify(results[name]))
}

// a partial run (`npm run bench -- pipeline`) updates its entries and keeps the others' last figures
const previous: unknown = only.length === 0
  ? undefined
  : await readFile(join(here, "results", "latest.json"), "utf8").then((text) => JSON.parse(text), () => undefined)
const kept = typeof previous === "object" && previous !== null && "results" in previous &&
    typeof previous.results === "object" && previous.results !== null
  ? previous.results
  : {}

const report = {
  at: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30)
  },
  node: process.version,
  results: { ...kept, ...results }
}
const out = join(here, "results")
await mkdir(out, { recursive: true })
await writeFile(join(out, "latest.json"), JSON.stringify(report, null, 2) + "\n")
await writeFile(join(out, `${report.at.replaceAll(":", "-")}.json`), JSON.stringify(report, null, 2) + "\n")
console.log(`bench: results written to ${join(out, "latest.json")}`)
if (Object.values(results).some((r) => typeof r === "object" && r !== null && "error" in r)) process.exitCode = 1
