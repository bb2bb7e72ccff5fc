import { defaultClientConditions, defaultServerConditions } from "vite"
import { defineProject } from "vitest/config"

// Workspace packages export their TypeScript sources under the `source` condition (plain node
// gets the compiled dist/): tests always run against the sources.
export default defineProject({
  resolve: { conditions: ["source", ...defaultClientConditions] },
  ssr: { resolve: { conditions: ["source", ...defaultServerConditions] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
