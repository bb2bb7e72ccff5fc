import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

// One linter and one formatter for the whole repository: typescript-eslint for correctness,
// the Effect plugin's dprint rule for formatting (the same settings Effect's own packages use).
export default tseslint.config(
  { ignores: ["**/dist/**", "**/build/**", "**/node_modules/**", "**/.data/**", "bench/results/**", "**/coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...effectEslint.configs.dprint,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: "module" },
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      "@typescript-eslint/no-explicit-any": "error",
      // No unchecked casts: values are decoded with Schema or narrowed, never asserted.
      "@typescript-eslint/consistent-type-assertions": ["error", { assertionStyle: "never" }],
      "@typescript-eslint/no-non-null-assertion": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "no-restricted-imports": ["error", {
        patterns: [{
          group: ["@devteam/*/internal/*", "**/../../*/src/*"],
          message: "Import another package through its public subpaths."
        }]
      }],
      "no-console": ["error", { allow: ["error"] }]
    }
  },
  {
    // tests, tools and runnable examples print to the console by design
    files: ["**/test/**", "**/examples/**", "bench/**", "scripts/**", "**/*.config.ts"],
    rules: { "no-console": "off" }
  }
)
