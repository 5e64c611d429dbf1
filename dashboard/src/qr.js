// @ts-check
// A share link as a QR code. qrcode-generator (npm, inlined by build.mjs before this bundle as
// the plain script dist/qrcode.js) defines the global `qrcode` and computes the modules; they are
// drawn here as one SVG path.

import { elem } from "./dom.js";

/** @typedef {typeof import("qrcode-generator")} QrFactory */

/** @returns {QrFactory | undefined} */
function library() {
  return /** @type {{qrcode?: QrFactory}} */ (/** @type {unknown} */ (window)).qrcode;
}

/** Links are ASCII, but a QR code of any text should hold its UTF-8 bytes. */
export function initQr() {
  const qrcode = library();
  if (qrcode && qrcode.stringToBytesFuncs && qrcode.stringToBytesFuncs["UTF-8"]) {
    qrcode.stringToBytes = qrcode.stringToBytesFuncs["UTF-8"];
  }
}

/** @param {string} text */
export function qrFigure(text) {
  const fig = elem("figure", "qr-figure");
  const svg = qrSvg(text);
  if (!svg) {
    fig.append(elem("figcaption", "muted small", "No QR code: the link is too long for one."));
    return fig;
  }
  fig.append(svg, elem("figcaption", "muted small", "Scan with a phone's camera to open the link"));
  return fig;
}

/** @param {string} text */
function qrSvg(text) {
  let qr;
  try {
    qr = /** @type {QrFactory} */ (library())(0, "M");
    qr.addData(text, "Byte");
    qr.make();
  } catch {
    return null;
  }
  const n = qr.getModuleCount();
  const quiet = 4;
  const size = n + 2 * quiet;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "qr");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("width", String(size * 3));
  svg.setAttribute("height", String(size * 3));
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "QR code of the link");
  const bg = document.createElementNS(ns, "rect");
  bg.setAttribute("width", String(size));
  bg.setAttribute("height", String(size));
  bg.setAttribute("fill", "#fff");
  let d = "";
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) {
      if (qr.isDark(row, col)) d += `M${col + quiet} ${row + quiet}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(bg, path);
  return svg;
}
