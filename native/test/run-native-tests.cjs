// Runs the native tests three times: with the best kernel set the CPU has
// (AVX-512 or AVX2), capped at AVX2 (FIRST_KERNELS=avx2), and with
// FIRST_FORCE_SCALAR=1 for the portable path. The kernel tests themselves also
// loop over every set the CPU has; these runs cover the model-level tests.
const { spawnSync } = require("node:child_process");
const path = require("node:path");
const fs = require("node:fs");

const exe = path.join(__dirname, "..", "build", "first_native_tests");
if (!fs.existsSync(exe)) {
  console.error(`native tests not built: ${exe} is missing (run pnpm build)`);
  process.exit(1);
}
let failed = false;
for (const env of [{}, { FIRST_KERNELS: "avx2" }, { FIRST_FORCE_SCALAR: "1" }]) {
  const label = env.FIRST_FORCE_SCALAR ? "scalar kernels" : env.FIRST_KERNELS ? "kernels capped at avx2" : "best kernels";
  console.log(`# native tests (${label})`);
  const r = spawnSync(exe, process.argv.slice(2), { stdio: "inherit", env: { ...process.env, ...env } });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
