// Start the automation on a repository, follow it live, then read what it did.
//   DEVTEAM_URL=http://127.0.0.1:8080 DEVTEAM_TOKEN=<jwt> PROJECT_ID=acme/shop \
//   REPO_URL=https://github.com/acme/shop.git npx tsx quickstart.ts
import { createDevTeamClient, DevTeamSocket, isDevTeamError } from "@devteam/client-sdk"

const baseUrl = process.env.DEVTEAM_URL ?? "http://127.0.0.1:8080"
const token = process.env.DEVTEAM_TOKEN // omit against a local service without AUTH_JWT_SECRET
const projectId = process.env.PROJECT_ID ?? "acme/shop"
const repoUrl = process.env.REPO_URL ?? "https://github.com/acme/shop.git"

const client = createDevTeamClient({ baseUrl, token })

// 1. Start: aider by default; DEVTEAM_TOOL=script runs the service's SCRIPT_TOOL_COMMAND instead.
let executionId: string
try {
  const started = await client.initialize({
    projectId,
    repoUrl,
    ...(process.env.DEVTEAM_TOOL === "script" ? { tool: "script" as const } : {})
  })
  executionId = started.executionId
  console.log(`started ${executionId} (${started.status})`)
} catch (error) {
  if (isDevTeamError(error, "IllegalTransition")) console.error(`already running: ${error.message}`)
  else if (isDevTeamError(error)) console.error(`${error._tag} (${error.status}): ${error.message}`)
  throw error
}

// 2. Follow it live. `since: 0` replays the project's frames first, so nothing is missed even if
//    the execution got going before the socket connected; reconnects resume where they left off.
const socket = DevTeamSocket.connect({ baseUrl, token, projects: [{ projectId, since: 0 }] })
socket.on("state", ({ state, attempt }) => console.log(`[socket ${state}${attempt > 0 ? ` #${attempt}` : ""}]`))
for await (const frame of socket.frames({ projectId })) {
  if (frame.executionId !== executionId) continue // an earlier execution of the same project
  if (frame.type === "execution-update") {
    const { progress, status, step, taskId } = frame.payload
    // step and task are null between tasks (SELECTING before one is chosen, the end)
    console.log([`#${frame.seq}`, status, step, taskId, `${progress}%`].filter((part) => part != null).join(" "))
  } else if (frame.type === "execution-error") {
    console.log(`#${frame.seq} error in ${frame.payload.step}: ${frame.payload.message}`)
  } else if (frame.type === "execution-completed") {
    // every execution ends with exactly one: COMPLETED, FAILED (it waits for a fix and a resume) or STOPPED
    const { completedTasks, reason, status, totalTasks } = frame.payload
    console.log(`#${frame.seq} ${status} (${reason}): ${completedTasks}/${totalTasks} tasks`)
    break
  }
}
await socket.close()

// 3. Read the record: every task with its branch, merge and pushed commit, and any error.
const execution = await client.execution(executionId)
for (const task of execution.tasks) {
  console.log(`${task.taskId} ${task.status} ${task.branch ?? ""} merged ${task.mergeCommit?.slice(0, 8) ?? "-"}`)
}
for (const error of execution.errors) {
  const details = await client.executionError(executionId, error.errorId)
  console.log(`error ${details.step} (${details.category}): ${details.message}`)
}
console.log(`final status ${execution.status}`)
if (execution.status !== "COMPLETED") process.exitCode = 1
