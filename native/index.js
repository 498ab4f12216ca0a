// Loads the compiled addon. The binding is thin: see binding/addon.cc.
const path = require("node:path");
let addon;
try {
  addon = require(path.join(__dirname, "build", "Release", "first_native.node"));
} catch (err) {
  throw new Error(`@first/native: the addon is not built (${err.message}). Run "pnpm build".`);
}
module.exports = addon;
