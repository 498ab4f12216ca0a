// The install test: packs the packages with `pnpm pack`, installs the tarballs
// of the runtime (@first/native, @first/core, @first/server) with plain npm
// into an empty folder outside the workspace (so the addon is compiled by its
// install step, as on a user's machine), checks that none of the research
// tools' dependencies came with them, and runs the README's library example
// there on the default model (pulled into the model cache beforehand).
//
// Usage: node install-test/run.mjs [--keep]   (from the repository root)
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const PACKED = ["native", "packages/core", "packages/eval", "packages/train", "packages/bench", "packages/server", "packages/cli"];
const INSTALLED = ["@first/native", "@first/core", "@first/server"];
const RESEARCH_ONLY = ["@resvg/resvg-js", "dejavu-fonts-ttf", "node-llama-cpp", "@first/eval", "@first/train", "@first/bench"];
const keep = process.argv.includes("--keep");

function step(message) {
  console.log(`# ${message}`);
}

function run(cmd, args, cwd, extraEnv = {}) {
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit", env: { ...process.env, ...extraEnv } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) exited with ${r.status ?? r.signal}`);
}

/** The README's library example: the first ```ts block after "## Library". */
function readmeExample() {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("\n## Library"));
  const m = section.match(/```ts\n([\s\S]*?)```/);
  if (!m) throw new Error("README.md has no ```ts block under ## Library");
  return m[1];
}

const root = mkdtempSync(join(tmpdir(), "first-install-"));
try {
  const tarballs = join(root, "tarballs");
  mkdirSync(tarballs);
  for (const pkg of PACKED) {
    step(`pnpm pack ${pkg}`);
    execFileSync("pnpm", ["pack", "--pack-destination", tarballs], { cwd: join(repo, pkg), stdio: ["ignore", "ignore", "inherit"] });
  }
  const files = readdirSync(tarballs);
  const tarball = (name) => {
    const prefix = name.replace(/^@/, "").replace("/", "-") + "-";
    const f = files.find((x) => x.startsWith(prefix) && x.endsWith(".tgz"));
    if (!f) throw new Error(`no tarball for ${name} in ${files.join(", ")}`);
    return join(tarballs, f);
  };
  for (const f of files) {
    const list = execFileSync("tar", ["-tzf", join(tarballs, f)], { encoding: "utf8" });
    if (/\.node$/m.test(list) && !/prebuilds\//.test(list)) throw new Error(`${f} carries a locally built addon`);
    if (/(^|\/)(test|src\/.*\.ts)$/m.test(list) && !f.startsWith("first-native")) throw new Error(`${f} carries sources or tests`);
  }

  const app = join(root, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "first-install-test", private: true, type: "module" }, null, 2));
  step(`npm install ${INSTALLED.join(" ")} from their tarballs into ${app}`);
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...INSTALLED.map(tarball)], app);

  step("the runtime brings none of the research tools' dependencies");
  const tree = JSON.parse(spawnSync("npm", ["ls", "--all", "--json"], { cwd: app, encoding: "utf8" }).stdout);
  const names = new Set();
  const walk = (deps) => {
    for (const [name, d] of Object.entries(deps ?? {})) {
      names.add(name);
      walk(d.dependencies);
    }
  };
  walk(tree.dependencies);
  const unwanted = RESEARCH_ONLY.filter((n) => names.has(n));
  if (unwanted.length > 0) throw new Error(`the runtime installed ${unwanted.join(", ")}`);
  if (!existsSync(join(app, "node_modules", "@first", "native", "build", "Release", "first_native.node"))) {
    throw new Error("@first/native's install step left no addon");
  }

  step("the README's library example, on the default model");
  writeFileSync(join(app, "example.mjs"), readmeExample());
  run(process.execPath, ["example.mjs"], app);
  run(process.execPath, ["-e", "import('@first/server').then((s) => { if (typeof s.createServer !== 'function') process.exit(1); })"], app);
  step("ok");
} finally {
  if (keep) console.log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
