// @ts-check
// Small DOM helpers. Everything from the broker goes in with textContent, never as HTML: a message
// is data, not markup.

/**
 * The element of src/index.html with this id, which must be a `kind` (an HTMLElement when not
 * said): a missing or different element is a bug in the page, said at once.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {{new (): T, prototype: T}} [kind]
 * @returns {T}
 */
export function $(id, kind) {
  const el = document.getElementById(id);
  const want = kind || HTMLElement;
  if (!(el instanceof want)) throw new Error(`the page has no ${want.name} with the id ${id}`);
  return /** @type {T} */ (el);
}

/**
 * A new element with a class and a text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string} [value]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function elem(tag, className, value) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (value !== undefined) e.textContent = value;
  return e;
}

/**
 * `v` when it is a plain object (not null, not an array), else null: a field of a message may be
 * anything, whatever its type says.
 * @template T
 * @param {T} v
 * @returns {Exclude<NonNullable<T>, unknown[]> | null}
 */
export function record(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? /** @type {Exclude<NonNullable<T>, unknown[]>} */ (v) : null;
}

/** `v` when it is a finite number, else null. @param {unknown} v */
export function finite(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/**
 * A list of facts: [term, value, the row's class].
 * @param {ReadonlyArray<readonly [string, string, string?]>} rows @param {string} [className]
 */
export function factList(rows, className = "facts session-facts") {
  const facts = elem("dl", className);
  for (const [k, v, cls] of rows) {
    const row = document.createElement("div");
    if (cls) row.className = cls;
    row.append(elem("dt", "", k), elem("dd", "", v));
    facts.append(row);
  }
  return facts;
}
