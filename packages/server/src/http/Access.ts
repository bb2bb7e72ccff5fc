/**
 * Authorisation at the edge: per-project access (`Auth.canAccessProject`), the admin role, the
 * caller's own user id, and "is this project known" (a projection row exists) — read from the
 * projections, never by waking an entity.
 */
import * as Auth from "@devteam/domain/Auth"
import { Forbidden, ProjectNotFound, ServiceUnavailable } from "@devteam/domain/Errors"
import type { ProjectId } from "@devteam/domain/Ids"
import type { ExecutionState } from "@devteam/domain/ProjectState"
import { Projections } from "@devteam/runtime/Projections"
import { Duration, Effect, Exit, Fiber, Option, Predicate } from "effect"

export const principal = Auth.CurrentPrincipal

/** 403 unless the caller may touch `projectId`. */
export const requireProject = (projectId: ProjectId) =>
  Effect.flatMap(Auth.CurrentPrincipal, (caller) =>
    Auth.canAccessProject(caller, projectId)
      ? Effect.void
      : Effect.fail(new Forbidden({ message: `not allowed to access project ${projectId}` })))

/** 403 unless the caller may see every project of `customerId` (its own customer, `*`, or an admin). */
export const requireCustomer = (customerId: string) =>
  Effect.flatMap(
    Auth.CurrentPrincipal,
    (caller) =>
      Auth.isAdmin(caller) || caller.projects.includes("*") || caller.customerId === customerId
        ? Effect.void
        : Effect.fail(new Forbidden({ message: "not allowed to look up this customer's projects" }))
  )

/** 403 unless the caller has the admin role (local-only mode: everyone). */
export const requireAdmin = Effect.flatMap(Auth.CurrentPrincipal, (caller) =>
  Auth.isAdmin(caller)
    ? Effect.void
    : Effect.fail(new Forbidden({ message: "this route needs the admin role" })))

/**
 * 403 when the request carries commands (`script`, `verify.commands`), they would run on the host
 * (the local sandbox with authentication on, not opted in: `SandboxPolicy.callerCommandsNeedAdmin`)
 * and the caller is not an admin.
 */
export const requireCommandsAllowed = (
  needAdmin: boolean,
  request: { readonly script?: string | undefined; readonly verify?: { readonly commands?: unknown } | undefined }
) =>
  Effect.flatMap(
    Auth.CurrentPrincipal,
    (caller) =>
      !needAdmin || Auth.isAdmin(caller) || (request.script === undefined && request.verify?.commands === undefined)
        ? Effect.void
        : Effect.fail(
          new Forbidden({
            message: "script and verify.commands need the admin role here: this service runs commands on its host " +
              "(SANDBOX=local); the operator can allow them with LOCAL_SANDBOX_CALLER_COMMANDS=true"
          })
        )
  )

/** 403 unless `userId` is the caller's own id (or the caller is an admin). */
export const requireUser = (userId: string) =>
  Effect.flatMap(Auth.CurrentPrincipal, (caller) =>
    Auth.isAdmin(caller) || caller.userId === userId
      ? Effect.void
      : Effect.fail(new Forbidden({ message: "a user may only list their own executions" })))

/** The project's status projection, or 404 ProjectNotFound when it has never been written. */
export const knownProject = (projectId: ProjectId): Effect.Effect<ExecutionState, ProjectNotFound, Projections> =>
  Effect.flatMap(Projections, (projections) => projections.status(projectId)).pipe(
    Effect.flatMap(Option.match({
      onNone: () =>
        Effect.fail(
          new ProjectNotFound({
            projectId,
            message: `unknown project ${projectId} (initialize it, or POST /events, first)`
          })
        ),
      onSome: Effect.succeed
    }))
  )

/** Authorised and known: the order matters (a caller without access learns nothing about existence). */
export const accessKnownProject = (projectId: ProjectId) =>
  Effect.zipRight(requireProject(projectId), knownProject(projectId))

/**
 * The exit of `fiber` when it ends within `millis`, none when the time runs out first: one timer
 * and an observer on the fiber, no fiber of its own (Effect's Clock would need one to sleep in).
 */
const awaitWithin = <A, E>(
  fiber: Fiber.RuntimeFiber<A, E>,
  millis: number
): Effect.Effect<Option.Option<Exit.Exit<A, E>>> =>
  Effect.async<Option.Option<Exit.Exit<A, E>>>((resume) => {
    const observer = (exit: Exit.Exit<A, E>) => {
      clearTimeout(timer)
      resume(Effect.succeed(Option.some(exit)))
    }
    const timer = setTimeout(() => {
      fiber.removeObserver(observer)
      resume(Effect.succeed(Option.none()))
    }, millis)
    // called at once when the fiber has already ended
    fiber.addObserver(observer)
    return Effect.sync(() => {
      clearTimeout(timer)
      fiber.removeObserver(observer)
    })
  })

/**
 * `accessKnownProject` for the command routes, remembering the projects found: a project once
 * known is not looked up again, so a command costs no query. One deleted since (here or through
 * another process) answers its command with IllegalTransition (its entity is back to IDLE);
 * `recheck` then looks it up again, so the caller still gets 404.
 */
export const makeKnownProjects = (capacity = 100_000) => {
  const known = new Set<ProjectId>()
  const lookUp = (projectId: ProjectId) =>
    Effect.flatMap(knownProject(projectId), () =>
      Effect.sync(() => {
        known.add(projectId)
        // oldest first: a set iterates in insertion order
        if (known.size > capacity) known.delete(known.values().next().value ?? projectId)
      }))
  return {
    /** Authorised (403) and known (404). */
    require: (projectId: ProjectId) =>
      Effect.zipRight(
        requireProject(projectId),
        Effect.suspend(() => known.has(projectId) ? Effect.void : lookUp(projectId))
      ),
    /**
     * Runs a command to a remembered project, watched: a command not answered within `after`
     * looks the project up once; a database that cannot answer fails it with 503 at once — the
     * cluster cannot place the entity then (shard locks live there) and the command would wait
     * for the database. A command answered in time costs no query. A command still unanswered at
     * `timeout` fails with `onTimeout` (the command's own time limit). Either failure interrupts
     * the command.
     *
     * The command runs in one child fiber that this fiber awaits with a timer, rather than raced
     * against a sleeping watchdog (a race forks both sides and waits for the loser's interruption:
     * two fibers, a sleep and an interruption per command: ~50 µs of CPU against ~20 µs here).
     */
    watch: <A, E, R, E2>(
      projectId: ProjectId,
      command: Effect.Effect<A, E, R>,
      options: {
        readonly after?: Duration.DurationInput
        readonly timeout: Duration.DurationInput
        readonly onTimeout: () => E2
      }
    ): Effect.Effect<A, E | E2 | ServiceUnavailable, R | Projections> =>
      Effect.flatMap(Effect.fork(command), (fiber) => {
        const after = Duration.toMillis(options.after ?? Duration.millis(500))
        const rest = Math.max(0, Duration.toMillis(options.timeout) - after)
        const giveUp = <X>(failure: Effect.Effect<never, X>) => Effect.zipRight(Fiber.interrupt(fiber), failure)
        // not answered within `after`: the database must answer, then the command within the rest of its time
        const late = () =>
          Effect.ignore(knownProject(projectId)).pipe(
            Effect.catchSomeDefect((defect) =>
              Predicate.isTagged(defect, "SqlError")
                ? Option.some(giveUp(
                  Effect.fail(new ServiceUnavailable({ message: "the database cannot serve this command now; retry" }))
                ))
                : Option.none()
            ),
            Effect.zipRight(awaitWithin(fiber, rest)),
            Effect.flatMap(Option.match({
              onSome: (exit): Effect.Effect<A, E | E2> => exit,
              onNone: () => giveUp(Effect.failSync(options.onTimeout))
            }))
          )
        return Effect.flatMap(awaitWithin(fiber, after), Option.match({ onSome: (exit) => exit, onNone: late }))
      }),
    /** After a refused command: 404 when the project is gone meanwhile. */
    recheck: (projectId: ProjectId) =>
      Effect.suspend(() => {
        known.delete(projectId)
        return lookUp(projectId)
      })
  }
}
