// Builds dist/: one self-contained index.html — the page from src/ with its stylesheet, the
// browser bundle that the pinned npm package `mqtt` ships (node_modules/mqtt/dist/mqtt.min.js)
// and app.js inlined — plus mqtt's licence and a build stamp.
//
// Why one file: mosquitto's web server (http_dir) sends no Content-Type header, and browsers
// refuse a module script, and may refuse a stylesheet, without one; an HTML document is sniffed.
//
// No bundler and no network: after `npm ci` this only reads and writes files, so the Pi never
// needs npm (the installer copies dist/ to /usr/share/session-recorder/dashboard).
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const dist = join(here, "dist");
const mqttDir = join(here, "node_modules", "mqtt");

function fail(message) {
  console.error(`dashboard build: ${message}`);
  process.exit(1);
}

let mqttPkg;
try {
  mqttPkg = JSON.parse(readFileSync(join(mqttDir, "package.json"), "utf8"));
} catch {
  fail("node_modules/mqtt is missing: run `npm ci` in dashboard/ first");
}
const pinned = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).dependencies.mqtt;
if (mqttPkg.version !== pinned) {
  fail(`node_modules has mqtt ${mqttPkg.version} but package.json pins ${pinned}: run npm ci`);
}

const read = (path) => readFileSync(path, "utf8");

/** Text to put inside <script> or <style>: it must not end the element early. */
function inlinable(text, tag, name) {
  const closing = new RegExp(`</${tag}`, "i");
  if (closing.test(text) || (tag === "script" && /<!--|<script/i.test(text))) {
    fail(`${name} contains "</${tag}", "<!--" or "<script": it cannot be inlined as it is`);
  }
  return text;
}

/** Replace one exact tag of src/index.html; a tag that is not there exactly once is a bug. */
function replaceTag(html, tag, replacement) {
  const parts = html.split(tag);
  if (parts.length !== 2) fail(`src/index.html should contain ${tag} exactly once`);
  return parts[0] + replacement + parts[1];
}

let html = read(join(src, "index.html"));
const css = inlinable(read(join(src, "style.css")), "style", "style.css");
const mqttJs = inlinable(read(join(mqttDir, "dist", "mqtt.min.js")), "script", "mqtt.min.js");
const appJs = inlinable(read(join(src, "app.js")), "script", "app.js");

html = replaceTag(html, '<link rel="stylesheet" href="style.css">', `<style>\n${css}</style>`);
html = replaceTag(
  html,
  '<script src="vendor/mqtt.min.js"></script>',
  `<script>/* mqtt ${mqttPkg.version} (npm), MIT licence: vendor/mqtt.LICENSE.txt */\n${mqttJs}\n</script>`,
);
html = replaceTag(html, '<script src="app.js"></script>', `<script>\n${appJs}</script>`);

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "vendor"), { recursive: true });
writeFileSync(join(dist, "index.html"), html);
copyFileSync(join(mqttDir, "LICENSE.md"), join(dist, "vendor", "mqtt.LICENSE.txt"));

// Which page and which mqtt.js a box serves, for a support question.
const page = createHash("sha256").update(html).digest("hex").slice(0, 12);
writeFileSync(join(dist, "build.txt"), `page ${page}\nmqtt ${mqttPkg.version}\n`);
console.log(`dashboard built: ${join(dist, "index.html")} (page ${page}, mqtt ${mqttPkg.version})`);
