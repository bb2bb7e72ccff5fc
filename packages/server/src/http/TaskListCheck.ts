/**
 * A repository probe's answer about a task list, parsed: found or not, its counts and the lenient
 * parser's diagnostics by line — what `POST /repository/validate` and the project view report.
 */
import { DiagnosticView } from "@devteam/domain/RepositoryApi"
import { summary } from "@devteam/domain/TaskList"
import { parse } from "@devteam/domain/TaskListParser"
import type { ValidateResult } from "@devteam/runtime/RepositoryProbe"

export interface TaskListFigures {
  readonly found: boolean
  readonly path: string
  readonly totalTasks: number
  readonly completedTasks: number
  readonly errors: ReadonlyArray<DiagnosticView>
}

export const figures = (result: ValidateResult): TaskListFigures => {
  const list = result.taskList.text === undefined ? undefined : parse(result.taskList.text)
  const counts = list === undefined ? undefined : summary(list.tasks)
  return {
    found: result.taskList.found,
    path: result.taskList.path,
    totalTasks: counts?.totalTasks ?? 0,
    completedTasks: counts?.completedTasks ?? 0,
    errors: (list?.diagnostics ?? []).map((d) => new DiagnosticView({ line: d.line, message: d.message }))
  }
}
