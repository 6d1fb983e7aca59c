// ESLint (flat config) for the build-free web client: correctness rules only, no style rules (formatting is
// prettier's, and only for the files listed in package.json's format:check).
import js from "@eslint/js";
import globals from "globals";

const PURE = ["web/js/room/state.js"]; // imported by node's test runner as well as the browser: no DOM globals

export default [
  { ignores: ["node_modules/", "test-artifacts/", "giaoban-data/", "build/"] },
  {
    files: ["web/js/**/*.js", "tests/web/**/*.mjs", "eslint.config.js"],
    ...js.configs.recommended,
  },
  {
    files: ["web/js/**/*.js", "tests/web/**/*.mjs", "eslint.config.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module" },
    rules: {
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_", caughtErrors: "none" }],
      "no-undef": "error",
      eqeqeq: ["error", "always", { null: "ignore" }], // `x != null`: null or undefined, on purpose
      "no-implicit-globals": "error",
      "no-use-before-define": ["error", { functions: false, classes: true, variables: false }],
    },
  },
  { files: ["web/js/**/*.js"], ignores: PURE, languageOptions: { globals: { ...globals.browser } } },
  { files: PURE, languageOptions: { globals: { ...globals.es2021 } } },
  { files: ["tests/web/**/*.mjs", "eslint.config.js"], languageOptions: { globals: { ...globals.node } } },
];
