// Bundles the modeler page (web/assets/modeler/) and the version comparison (web/assets/diff/) with esbuild into web/static/build/ (generated,
// not committed; `make install` runs it). The bpmnlint configuration (.bpmnlintrc) is compiled
// into the bundle here, with every rule it enables, so that the browser lints without a server.
import { build } from "esbuild";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const compileConfig = require("bpmnlint/lib/support/compile-config");

const bpmnlintConfig = {
  name: "bpmnlint-config",
  setup(b) {
    b.onResolve({ filter: /^bpmnlint-config$/ }, () => ({ path: join(here, "modeler", ".bpmnlintrc"), namespace: "bpmnlint" }));
    b.onLoad({ filter: /.*/, namespace: "bpmnlint" }, async (args) => ({
      contents: await compileConfig(JSON.parse(await readFile(args.path, "utf8"))),
      resolveDir: here, loader: "js", watchFiles: [args.path],
    }));
  },
};

// the version comparison page: two bpmn-js viewers and bpmn-js-differ (no browser build of its own)
await build({
  entryPoints: [join(here, "diff", "index.js")],
  outfile: join(here, "..", "static", "build", "diff.js"),
  bundle: true, minify: true, sourcemap: true, format: "iife", target: "es2020", logLevel: "warning",
});

await build({
  entryPoints: [join(here, "modeler", "index.js")],
  outfile: join(here, "..", "static", "build", "modeler.js"),
  bundle: true, minify: true, sourcemap: true, format: "iife", target: "es2020",
  jsx: "automatic", jsxImportSource: "@bpmn-io/properties-panel/preact",
  plugins: [bpmnlintConfig], logLevel: "warning",
});
