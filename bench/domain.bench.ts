/**
 * Pure domain: how fast the state machine decides and folds (activation cost of an entity is
 * dominated by folding its journal).
 */
import { ExecutionCommand } from "@devteam/domain/ExecutionCommand"
import { ExecutionConfig } from "@devteam/domain/ExecutionConfig"
import { decide, evolve, expectedStep, fold } from "@devteam/domain/ExecutionMachine"
import { CustomerId, EventId, ExecutionId, ProjectId, TaskId } from "@devteam/domain/Ids"
import type { JournalEvent } from "@devteam/domain/JournalEvent"
import { LogLine } from "@devteam/domain/JournalEvent"
import { initial } from "@devteam/domain/ProjectState"
import { Either } from "effect"
import { performance } from "node:perf_hooks"

export const run = async () => {
  const projectId = ProjectId.make("bench/project")
  const at = "2025-01-14T18:00:00.000Z"
  let state = initial(projectId)
  const journal: Array<JournalEvent> = []
  const apply = (command: ExecutionCommand) => {
    const decision = decide(state, command)
    if (Either.isLeft(decision)) throw new Error(decision.left.message)
    for (const event of decision.right) {
      state = evolve(state, event)
      journal.push(event)
    }
  }
  apply(ExecutionCommand.Initialize({
    executionId: ExecutionId.make("00000000-0000-4000-8000-000000000001"),
    eventId: EventId.make("00000000-0000-4000-8000-000000000002"),
    config: new ExecutionConfig({
      repoUrl: "https://example.com/r.git",
      baseBranch: "main",
      taskListPath: "docs/DevTeam/tasks_list.md",
      tool: "script",
      customerId: CustomerId.make("bench")
    }),
    at
  }))
  const started = performance.now()
  const commands = 20_000
  for (let i = 0; i < commands; i++) {
    if (i % 2 === 0) {
      apply(
        ExecutionCommand.AppendLogs({
          taskId: null,
          step: null,
          lines: [new LogLine({ level: "info", message: `line ${i}`, at })],
          at
        })
      )
    } else {
      // a step start/restart of the expected step keeps the machine in a legal state
      const step = expectedStep(state)
      apply(ExecutionCommand.StartStep({ step, taskId: step === "SELECT" ? null : TaskId.make("1.1"), at }))
    }
  }
  const decideMs = performance.now() - started
  const foldStarted = performance.now()
  const rebuilt = fold(initial(projectId), journal)
  const foldMs = performance.now() - foldStarted
  if (rebuilt.status !== state.status) throw new Error("fold mismatch")
  return {
    commands,
    decideEvolveMicrosPerCommand: Math.round((decideMs / commands) * 1000 * 100) / 100,
    foldEvents: journal.length,
    foldMicrosPerEvent: Math.round((foldMs / journal.length) * 1000 * 100) / 100
  }
}
