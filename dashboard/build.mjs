// Builds dist/: one self-contained index.html — the page from src/ with its stylesheet, the
// browser bundle that the pinned npm package `mqtt` ships (node_modules/mqtt/dist/mqtt.min.js),
// the QR code generator that the pinned package `qrcode-generator` ships (its dist/qrcode.js, a
// plain script that defines the global `qrcode`) and the page's own ES modules (src/main.js and
// what it imports), bundled by esbuild into one classic script, all inlined — plus both licences
// and a build stamp.
//
// Why one file: mosquitto's web server (http_dir) sends no Content-Type header, and browsers
// refuse a module script, and may refuse a stylesheet, without one; an HTML document is sniffed.
// So the modules become one IIFE (no `import` left at run time), and the vendor scripts stay the
// packages' own browser builds, as published, each with its licence note.
//
// No network: after `npm ci` this only reads and writes files (esbuild is a local binary from
// its npm package), so the Pi never needs npm (the installer copies dist/ to
// /usr/share/session-recorder/dashboard). Type checking is separate: `npm run typecheck`.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const dist = join(here, "dist");
const mqttDir = join(here, "node_modules", "mqtt");
const qrDir = join(here, "node_modules", "qrcode-generator");
const esbuildDir = join(here, "node_modules", "esbuild");

function fail(message) {
  console.error(`dashboard build: ${message}`);
  process.exit(1);
}

/** The installed package `name`, which must be the version package.json pins. */
function pinnedPackage(dir, name) {
  let pkg;
  try {
    pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  } catch {
    fail(`node_modules/${name} is missing: run \`npm ci\` in dashboard/ first`);
  }
  const own = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));
  const pinned = { ...own.dependencies, ...own.devDependencies }[name];
  if (pkg.version !== pinned) {
    fail(`node_modules has ${name} ${pkg.version} but package.json pins ${pinned}: run npm ci`);
  }
  return pkg;
}

const mqttPkg = pinnedPackage(mqttDir, "mqtt");
const qrPkg = pinnedPackage(qrDir, "qrcode-generator");
pinnedPackage(esbuildDir, "esbuild");
const esbuild = await import("esbuild");

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

/** qrcode-generator's package has no licence file: its notice is the head comment of qrcode.js
 * (copyright and "Licensed under the MIT license"), kept here with the MIT licence's text. */
function qrLicence(js) {
  const head = js.match(/^(\/\/.*\n)+/);
  if (!head || !/Copyright \(c\)/.test(head[0]) || !/MIT license/i.test(head[0])) {
    fail("qrcode.js no longer starts with its copyright and MIT notice: check its licence");
  }
  const copyright = head[0].match(/Copyright \(c\)[^\n]*/)[0];
  const notice = head[0].replace(/^\/\/ ?/gm, "");
  return `${notice}
The MIT License

${copyright}

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`;
}

/**
 * src/main.js and the modules it imports, as one classic script: an IIFE, so the page's names
 * stay its own, in strict mode as the modules were (esbuild says "use strict"), with its code as
 * written (not minified: the page source stays readable for a support question; mqtt.min.js is
 * most of the page).
 */
async function bundle() {
  let result;
  try {
    result = await esbuild.build({
      absWorkingDir: here, // the metafile names inputs from here: src/…
      entryPoints: [join(src, "main.js")],
      bundle: true,
      format: "iife",
      platform: "browser",
      target: "es2020", // what the page was written for: phones' browsers since 2020
      charset: "utf8",
      metafile: true,
      write: false,
      logLevel: "warning",
    });
  } catch (err) {
    fail(`esbuild could not bundle src/main.js: ${err.message}`);
  }
  // the vendor libraries are inlined as the packages ship them, not a second time in the bundle
  const outside = Object.keys(result.metafile.inputs).filter((p) => !p.startsWith("src/"));
  if (outside.length) fail(`the bundle would hold files from outside src/: ${outside.join(", ")}`);
  return result.outputFiles[0].text;
}

let html = read(join(src, "index.html"));
const css = inlinable(read(join(src, "style.css")), "style", "style.css");
const mqttJs = inlinable(read(join(mqttDir, "dist", "mqtt.min.js")), "script", "mqtt.min.js");
const qrJs = inlinable(read(join(qrDir, "dist", "qrcode.js")), "script", "qrcode.js");
const appJs = inlinable(await bundle(), "script", "the bundle of src/main.js");

html = replaceTag(html, '<link rel="stylesheet" href="style.css">', `<style>\n${css}</style>`);
html = replaceTag(
  html,
  '<script src="vendor/mqtt.min.js"></script>',
  `<script>/* mqtt ${mqttPkg.version} (npm), MIT licence: vendor/mqtt.LICENSE.txt */\n${mqttJs}\n</script>`,
);
html = replaceTag(
  html,
  '<script src="vendor/qrcode.js"></script>',
  `<script>/* qrcode-generator ${qrPkg.version} (npm), MIT licence: vendor/qrcode-generator.LICENSE.txt */\n${qrJs}\n</script>`,
);
html = replaceTag(html, '<script type="module" src="main.js"></script>', `<script>\n${appJs}</script>`);

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "vendor"), { recursive: true });
writeFileSync(join(dist, "index.html"), html);
copyFileSync(join(mqttDir, "LICENSE.md"), join(dist, "vendor", "mqtt.LICENSE.txt"));
writeFileSync(join(dist, "vendor", "qrcode-generator.LICENSE.txt"), qrLicence(qrJs));

// Which page and which mqtt.js a box serves, for a support question.
const page = createHash("sha256").update(html).digest("hex").slice(0, 12);
writeFileSync(join(dist, "build.txt"), `page ${page}\nmqtt ${mqttPkg.version}\nqrcode-generator ${qrPkg.version}\n`);
console.log(`dashboard built: ${join(dist, "index.html")} (page ${page}, mqtt ${mqttPkg.version}, qrcode-generator ${qrPkg.version})`);
