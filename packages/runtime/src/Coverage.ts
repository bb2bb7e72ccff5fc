/**
 * `test.coverage` judged on the files the task changed ("touched scope"): line coverage per file
 * from an istanbul json-summary (c8, nyc, jest and vitest all write one), each touched source file
 * against the required figure. Test files, declaration files and tool configs are not in scope.
 */
import { FileCoverage } from "@devteam/domain/Artifacts"
import { Option, Schema } from "effect"

const Metric = Schema.Struct({ pct: Schema.Union(Schema.Number, Schema.Literal("Unknown")) })
const Summary = Schema.Record({ key: Schema.String, value: Schema.Struct({ lines: Metric }) })
const decodeSummary = Schema.decodeUnknownOption(Schema.parseJson(Summary))

/** Source files whose coverage counts: code, not tests, declarations or configs. */
export const inScope = (file: string): boolean =>
  /\.(c|m)?(j|t)sx?$/.test(file) &&
  !/\.d\.(c|m)?ts$/.test(file) &&
  !/(^|\/)(__tests__|__mocks__|test|tests)\//.test(file) &&
  !/\.(test|spec)\.(c|m)?(j|t)sx?$/.test(file) &&
  !/(^|\/)[^/]*\.config\.(c|m)?(j|t)s$/.test(file)

export interface CoverageJudgement {
  readonly passed: boolean
  readonly actual: string
  readonly perFile: ReadonlyArray<FileCoverage>
}

/** Line coverage (percent) by workspace-relative path, plus the total; undefined when unreadable. */
export const readSummary = (
  text: string,
  workdir: string
): { readonly total: number | undefined; readonly files: ReadonlyMap<string, number> } | undefined => {
  const decoded = decodeSummary(text)
  if (Option.isNone(decoded)) return undefined
  const files = new Map<string, number>()
  let total: number | undefined
  for (const [key, value] of Object.entries(decoded.value)) {
    // "Unknown": a file without lines (types only) is fully covered
    const pct = value.lines.pct === "Unknown" ? 100 : value.lines.pct
    if (key === "total") total = pct
    else files.set(key.startsWith(`${workdir}/`) ? key.slice(workdir.length + 1) : key, pct)
  }
  return { total, files }
}

const fmt = (n: number): string => `${Math.round(n * 100) / 100}%`

/**
 * Judges the touched source files (the whole repository's figure when the task touched none).
 * A touched file no test loaded counts as not covered.
 */
export const judge = (
  summary: { readonly total: number | undefined; readonly files: ReadonlyMap<string, number> },
  touched: ReadonlyArray<string>,
  threshold: number
): CoverageJudgement => {
  const scope = touched.filter(inScope)
  if (scope.length === 0) {
    const total = summary.total
    return {
      passed: total !== undefined && total >= threshold,
      actual: total === undefined
        ? "no total in the coverage summary"
        : `${fmt(total)} (whole repository: no source file touched)`,
      perFile: []
    }
  }
  const lookup = (file: string): number | undefined => {
    const exact = summary.files.get(file)
    if (exact !== undefined) return exact
    for (const [key, pct] of summary.files) if (key.endsWith(`/${file}`)) return pct
    return undefined
  }
  const perFile = scope.map((file) => {
    const actual = lookup(file)
    return new FileCoverage({ file, actual: actual ?? null, passed: actual !== undefined && actual >= threshold })
  })
  return {
    passed: perFile.every((f) => f.passed),
    actual: perFile.map((f) => `${f.file} ${f.actual === null ? "not loaded by any test" : fmt(f.actual)}`).join(", "),
    perFile
  }
}
