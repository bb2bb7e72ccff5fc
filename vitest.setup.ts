/**
 * Runs before each test file. @effect/vitest 0.30's `layer(…)` assigns its layer-bound `effect`,
 * `scoped`, `prop`, `flakyTest` and `layer` onto the shared `it` (fixed upstream only in Effect
 * 4's @effect/vitest): with files sharing a worker, a later file's `it.effect` would run on an
 * earlier file's layer, without the TestClock. The methods as first loaded are put back.
 */
import { it } from "@effect/vitest"

const pristineKey = Symbol.for("devteam/vitest/pristine-it")

if (!Reflect.has(globalThis, pristineKey)) {
  const { effect, flakyTest, layer, prop, scoped } = it
  Reflect.set(globalThis, pristineKey, { effect, flakyTest, layer, prop, scoped })
}
Object.assign(it, Reflect.get(globalThis, pristineKey))
