/**
 * The task list a project starts with when it is registered with `createTaskList: true` and its
 * repository has none: one manual task (automation skips it) saying what to do, in the format the
 * parser reads without a diagnostic. docs/task-list.md shows the same text (the docs test checks).
 */
export const taskListTemplate = `# Tasks

The task list DevTeam Runner works through, one task at a time, from the base branch.
Replace the phase below with the project's own phases, groups and tasks:

- a phase is a line \`Phase <n>: <title>\`;
- an atomic task is a checkbox line \`- [ ] <n.n.n> <title>\` under a group \`- <n.n> <title>\`;
- \`(Dependencies: [1.1])\` on a task, group or phase makes it wait for those;
- indented lines under a task describe it, and \`•\` lines are its acceptance criteria.

The runner ticks a task (\`- [x]\`) when its change is merged and pushed.

Phase 1: Getting started

- 1.1 The task list
  - [ ] 1.1.1 Replace this template with the project's tasks (manual)
`

/** The message of the commit that adds the template. */
export const taskListTemplateCommitMessage = (path: string): string => `Add the DevTeam task list template (${path})\n`
