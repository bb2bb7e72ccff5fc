import { defineWorkspace } from "vitest/config"

// One project per package; each package's vitest.config.ts names it and sets its timeouts.
export default defineWorkspace(["packages/*/vitest.config.ts"])
