// Small DOM helpers. Text from profiles and servers is untrusted: it only ever
// reaches the page through textContent, never innerHTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** The element a selector names (any: the page knows which kind of element it is). */
export const $ = (sel) => /** @type {any} */ (document.querySelector(sel));

/**
 * A host key is trusted only after its fingerprint was compared: the person types its
 * last 6 characters (as the server's own console shows them), exactly; until then the
 * trust button stays disabled. Habit cannot click it through.
 * @param {HTMLInputElement} input
 * @param {HTMLButtonElement} button
 * @param {string} fingerprint
 */
export function requireFingerprintTyped(input, button, fingerprint) {
  const tail = fingerprint.slice(-6);
  input.value = "";
  button.disabled = true;
  input.oninput = () => { button.disabled = input.value.trim() !== tail; };
}
