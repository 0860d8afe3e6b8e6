#!/usr/bin/env node
// Adds to package-lock.json the platform-specific optional packages (other operating systems' and
// CPUs' builds of biome, rollup, turbo…) that `npm install` leaves out when the registry it talks
// to does not serve them. Without these entries `npm ci` refuses the lockfile as out of sync.
// Each entry carries the os / cpu / libc its name encodes, so npm ci on that platform fetches it
// and every other platform skips it. Run after `npm install`: `npm run lockfile:complete`.
import fs from "node:fs"

const lockPath = new URL("../package-lock.json", import.meta.url)
const lock = JSON.parse(fs.readFileSync(lockPath, "utf8"))

const operatingSystems = {
  android: "android",
  darwin: "darwin",
  freebsd: "freebsd",
  linux: "linux",
  openbsd: "openbsd",
  openharmony: "openharmony",
  win32: "win32",
  windows: "win32"
}
const cpus = {
  64: "x64",
  arm: "arm",
  arm64: "arm64",
  ia32: "ia32",
  loong64: "loong64",
  ppc64: "ppc64",
  riscv64: "riscv64",
  s390x: "s390x",
  x64: "x64"
}

/** The os / cpu / libc a platform package's name encodes, e.g. `@rollup/rollup-linux-arm64-musl`. */
const platformOf = (name) => {
  const tokens = name.split("/").pop().split("-")
  const os = tokens.map((token) => operatingSystems[token]).find(Boolean)
  const cpu = tokens.map((token) => cpus[token]).find(Boolean)
  if (!os || !cpu) return undefined
  const libc = tokens.includes("musl")
    ? ["musl"]
    : os === "linux" && tokens.includes("gnu")
      ? ["glibc"]
      : undefined
  return { os: [os], cpu: [cpu], ...(libc ? { libc } : {}) }
}

let added = 0
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    if (lock.packages[`node_modules/${name}`] || lock.packages[`${path}/node_modules/${name}`]) continue
    const platform = platformOf(name)
    if (!platform) {
      console.error(`complete-lockfile: cannot tell the platform of ${name}; add it by hand`)
      process.exitCode = 1
      continue
    }
    lock.packages[`node_modules/${name}`] = {
      version: range.replace(/^[\^~=]/, ""),
      optional: true,
      ...platform
    }
    added++
  }
}
fs.writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`complete-lockfile: added ${added} platform package entr${added === 1 ? "y" : "ies"}`)
