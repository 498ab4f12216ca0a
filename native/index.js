// Loads the compiled addon. The binding is thin: see binding/addon.cc.
const path = require("node:path");
let addon;
try {
  addon = require(path.join(__dirname, "build", "Release", "first_native.node"));
} catch (err) {
  throw new Error(`@first/native: cannot load the addon (${err.message}). Build it with "pnpm build".`);
}
module.exports = addon;
