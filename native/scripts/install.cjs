// The install step of @first/native. A package installed from the registry or a
// tarball carries the C++ sources: it uses a prebuilt addon shipped for this
// platform (prebuilds/<platform>-<arch>/) when there is one that loads, and
// otherwise compiles the addon here with cmake-js (a C++17 compiler and cmake
// are needed; the Node-API headers come from the node-api-headers package, so
// nothing is downloaded). Inside the project's own checkout `pnpm build` does
// the build, so this step does nothing there.
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.join(__dirname, "..");
const built = path.join(root, "build", "Release", "first_native.node");
const prebuilt = path.join(root, "prebuilds", `${process.platform}-${process.arch}`, "first_native.node");

function loads(file) {
  try {
    require(file);
    return true;
  } catch (err) {
    console.error(`@first/native: ${path.relative(root, file)} does not load here (${err.message.split("\n")[0]})`);
    return false;
  }
}

function fail(message) {
  console.error(`@first/native: ${message}`);
  process.exit(1);
}

if (process.env.FIRST_NATIVE_SKIP_INSTALL === "1") process.exit(0);
if (fs.existsSync(path.join(root, "..", "pnpm-workspace.yaml"))) process.exit(0); // the project checkout: `pnpm build`
if (fs.existsSync(prebuilt) && loads(prebuilt)) {
  console.log(`@first/native: using the prebuilt addon for ${process.platform}-${process.arch}`);
  process.exit(0);
}
if (fs.existsSync(built) && loads(built)) process.exit(0);

const cmake = spawnSync("cmake", ["--version"], { encoding: "utf8" });
if (cmake.error || cmake.status !== 0) {
  fail(`no prebuilt addon for ${process.platform}-${process.arch}, and cmake is not on PATH to build one: install cmake (3.18 or newer) and a C++17 compiler, then reinstall`);
}
let cli;
try {
  cli = path.join(path.dirname(require.resolve("cmake-js/package.json", { paths: [root] })), "bin", "cmake-js");
} catch {
  fail("cmake-js is missing: it is a dependency of @first/native, reinstall the package");
}
console.log(`@first/native: building the addon from source (${os.cpus().length} jobs); this takes a few minutes`);
const env = { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: String(os.cpus().length) };
const r = spawnSync(process.execPath, [cli, "compile", "--CDFIRST_CUDA=OFF", "--CDFIRST_NATIVE_TESTS=OFF", "--out", "build"], {
  cwd: root,
  stdio: "inherit",
  env,
});
if (r.status !== 0) fail(`building the addon failed (cmake-js exited with ${r.status ?? r.signal}); the compiler's messages are above`);
if (!loads(built)) fail("the addon was built but does not load");
