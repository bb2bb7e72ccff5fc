import { Effect } from "effect"
import { call, field } from "./http.js"
import { withInProcessService } from "./inProcessService.js"
const now = () => performance.timeOrigin + performance.now()
export const run = async () =>
  withInProcessService({
    name: "probe",
    steps: { tasks: 1, stepDuration: "20 millis" },
    config: { MAX_CONCURRENT_EXECUTIONS: "500" }
  }, (base) =>
    Effect.promise(async () => {
      for (let i = 0; i < 8; i++) {
        const projectId = `bench/p-${i}`
        const t0 = now()
        const res = await call(base, "POST", "/api/devteam/automation/initialize", {
          projectId,
          repoUrl: "https://example.invalid/r.git",
          baseBranch: "main"
        })
        const t1 = now()
        await new Promise((r) => setTimeout(r, 300))
        const page = await call(base, "GET", `/admin/projects/${encodeURIComponent(projectId)}/journal?limit=10`)
        const events = field(page.body, "events")
        console.log(
          res.status,
          "answer",
          (t1 - t0).toFixed(1),
          Array.isArray(events)
            ? events.map((e: unknown) =>
              `${String(field(e, "type"))}@${(Date.parse(String(field(e, "ts"))) - t0).toFixed(0)}`
            ).join(" ")
            : page.body
        )
      }
      return {}
    }))
