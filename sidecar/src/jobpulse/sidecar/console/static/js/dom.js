// Building DOM from data without innerHTML: whatever comes from the API goes in as text.

const SVG_NS = 'http://www.w3.org/2000/svg';

function setProps(element, props) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.setAttribute('class', value);
    else if (key === 'text') element.textContent = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
}

/** Append children (nodes, strings, numbers, nested arrays; null and false are skipped). */
export function append(parent, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

/** An HTML element: h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child). */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  setProps(element, props);
  return append(element, ...children);
}

/** An SVG element, as h() does for HTML. */
export function s(tag, props, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setProps(element, props);
  return append(element, ...children);
}

/** Replace every child of `parent`. */
export function fill(parent, ...children) {
  parent.replaceChildren();
  return append(parent, ...children);
}

/** Set text only when it changed, so a steady value costs no layout and screen readers stay quiet. */
export function setText(element, text) {
  const value = text === null || text === undefined ? '' : String(text);
  if (element.textContent !== value) element.textContent = value;
}

/** Set or remove an attribute, only when it changed. */
export function setAttr(element, name, value) {
  if (value === null || value === undefined || value === false) {
    if (element.hasAttribute(name)) element.removeAttribute(name);
    return;
  }
  const text = value === true ? '' : String(value);
  if (element.getAttribute(name) !== text) element.setAttribute(name, text);
}

let nextId = 0;
/** A document-unique id for label/aria wiring. */
export function uid(prefix = 'id') {
  nextId += 1;
  return `${prefix}-${nextId}`;
}
