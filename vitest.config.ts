import { defaultClientConditions, defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

export default defineConfig({
  // Workspace packages export their TypeScript sources under the `source` condition (plain node
  // gets the compiled dist/): tests always run against the sources.
  resolve: { conditions: ["source", ...defaultClientConditions] },
  ssr: { resolve: { conditions: ["source", ...defaultServerConditions] } },
  test: {
    // Every package's tests in one project: a worker takes the next file of any package.
    include: ["packages/*/test/**/*.test.ts"],
    // A worker runs its files one after another on one module graph: Effect and the workspace's
    // sources are imported once per worker instead of once per file (about 1 s of CPU a file, and
    // the suite is CPU-bound). A test file keeps its state to itself and restores what it changes
    // in the process (environment variables); shared fixtures are caches.
    poolOptions: { forks: { isolate: false } },
    setupFiles: ["./vitest.setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
