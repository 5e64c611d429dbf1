// @ts-check
// When the page is drawn: at most once a frame after messages, and at once when the view
// changes. main.js gives it the function that draws; the cards ask for a drawing through here,
// so none of them needs to know the others.

/** @type {() => void} */
let draw = () => {};
let queued = false;
let listsKey = ""; // what the box view's lists were last built from

/** @param {() => void} render */
export function setRenderer(render) {
  draw = render;
}

/** Draw at the next frame (once, however many messages came). */
export function queueRender() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    draw();
  });
}

export function renderNow() {
  draw();
}

/** The box view's lists are built again at the next drawing. */
export function invalidateLists() {
  listsKey = "";
}

/** Whether the lists must be built for `key`; from now on they are taken as built for it.
 * @param {string} key */
export function listsStale(key) {
  if (listsKey === key) return false;
  listsKey = key;
  return true;
}

/** A form changed what a session view shows (a confirmation came or went): build it now. */
export function refreshViews() {
  invalidateLists();
  draw();
}
