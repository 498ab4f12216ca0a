// Loads the compiled addon: the one built here (`pnpm build`, or the install
// step), else a prebuilt one shipped for this platform. The binding is thin:
// see binding/addon.cc.
const fs = require("node:fs");
const path = require("node:path");

const candidates = [
  path.join(__dirname, "build", "Release", "first_native.node"),
  path.join(__dirname, "prebuilds", `${process.platform}-${process.arch}`, "first_native.node"),
];
const file = candidates.find((f) => fs.existsSync(f));
if (file === undefined) {
  throw new Error(
    `@first/native: no addon for ${process.platform}-${process.arch}: build it with "pnpm build" in the project, or reinstall the package on a machine with cmake and a C++17 compiler`,
  );
}
let addon;
try {
  addon = require(file);
} catch (err) {
  throw new Error(`@first/native: cannot load ${file} (${err.message})`);
}
module.exports = addon;
