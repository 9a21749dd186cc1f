"""What a reader sees, measured in the browser: the WCAG contrast of every piece of text as
rendered, and text that runs past the edge of its box.

``contrast_failures(page, root)`` reads, for every visible element under ``root`` that shows
text (its own text nodes, or the value of a field), the computed text colour and the colour
behind it: the backgrounds of the element and of its ancestors composited in paint order,
opacity included (an element with opacity is a group: its content is blended with what is
behind it as a whole), over the white canvas. Both are composited the same way, then the WCAG
2.x ratio is taken; below ``minimum`` the element is reported, named by its tag, id, classes,
the data attributes of its card and its text.
"""

from __future__ import annotations

# Text for screen readers only (clipped to nothing) is not on the screen.
CLIPPED_JS = r"""
const clippedAway = (el) => {
  for (let node = el; node; node = node.parentElement) {
    const style = getComputedStyle(node);
    if (style.clip && style.clip !== "auto" && style.position === "absolute") return true;
  }
  return false;
};
"""

CONTRAST_JS = r"""
([rootSelector, exclude, minimum]) => {
""" + CLIPPED_JS + r"""
  const roots = Array.from(document.querySelectorAll(rootSelector));
  const parse = (value) => {
    const m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)$/.exec(value);
    if (!m) return null;
    let a = m[4] === undefined ? 1 : (m[4].endsWith("%") ? parseFloat(m[4]) / 100 : parseFloat(m[4]));
    return [Number(m[1]), Number(m[2]), Number(m[3]), a];
  };
  // Premultiplied "source over destination".
  const over = (src, dst) => {
    const k = 1 - src[3];
    return [src[0] + dst[0] * k, src[1] + dst[1] * k, src[2] + dst[2] * k, src[3] + dst[3] * k];
  };
  const premultiply = (c) => [c[0] * c[3], c[1] * c[3], c[2] * c[3], c[3]];
  const problems = [];
  // The colour a pixel of ``start`` (premultiplied; transparent for the background alone) painted
  // in ``element`` ends up as on screen.
  const paint = (element, start) => {
    let pixel = start;
    for (let node = element; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage && style.backgroundImage !== "none") {
        return { unknown: `${describe(node)} has a background image` };
      }
      const bg = parse(style.backgroundColor);
      if (bg === null) return { unknown: `unreadable background ${style.backgroundColor}` };
      // Content is painted over the box's background: the background goes under the pixel.
      pixel = over(pixel, premultiply(bg));
      const opacity = parseFloat(style.opacity);
      if (opacity < 1) pixel = pixel.map((v) => v * opacity);
    }
    pixel = over(pixel, [255, 255, 255, 1]); // the canvas
    return { rgb: pixel.slice(0, 3) };
  };
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const hex = (rgb) => "#" + rgb.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += `#${el.id}`;
    if (el.classList.length) name += "." + Array.from(el.classList).join(".");
    const card = el.closest("[data-message], [data-alert], [data-unit], [data-incident], [data-status]");
    if (card && card !== el) {
      const data = Object.entries(card.dataset).map(([k, v]) => `${k}=${v}`).join(" ");
      const classes = card.className ? "." + card.className.split(/\s+/).join(".") : "";
      name += ` in ${card.tagName.toLowerCase()}${classes} [${data}]`;
    }
    return name;
  };
  const ownText = (el) => {
    if (el.matches("input:not([type=checkbox]):not([type=radio]):not([type=hidden]), textarea")) {
      return el.value || "";
    }
    if (el.matches("select")) return el.selectedOptions.length ? el.selectedOptions[0].textContent : "";
    if (el.matches("option, script, style, template")) return "";
    return Array.from(el.childNodes).filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent).join("").trim();
  };
  const visible = (el) => {
    const style = getComputedStyle(el);
    if (style.visibility !== "visible" || style.display === "none") return false;
    const rect = el.getBoundingClientRect();
    return rect.width > 1 && rect.height > 1 && !el.closest("[hidden]") && !clippedAway(el);
  };
  let checked = 0;
  let lowest = Infinity;
  const seen = new Set();
  for (const root of roots) {
    for (const el of [root, ...root.querySelectorAll("*")]) {
      if (seen.has(el)) continue;
      seen.add(el);
      if (exclude && el.closest(exclude)) continue;
      const text = ownText(el);
      if (!text || !visible(el)) continue;
      const colour = parse(getComputedStyle(el).color);
      if (colour === null) {
        problems.push({ element: describe(el), text: text.slice(0, 60),
                        detail: `unreadable colour ${getComputedStyle(el).color}` });
        continue;
      }
      const fg = paint(el, premultiply(colour));
      const bg = paint(el, [0, 0, 0, 0]);
      if (fg.unknown || bg.unknown) {
        problems.push({ element: describe(el), text: text.slice(0, 60), detail: fg.unknown || bg.unknown });
        continue;
      }
      checked += 1;
      const r = ratio(fg.rgb, bg.rgb);
      lowest = Math.min(lowest, r);
      if (r < minimum) {
        problems.push({ element: describe(el), text: text.slice(0, 60),
                        detail: `${r.toFixed(2)}:1, ${hex(fg.rgb)} on ${hex(bg.rgb)}` });
      }
    }
  }
  return { checked, problems, lowest };
}
"""

OVERFLOW_JS = r"""
([rootSelector, exclude]) => {
""" + CLIPPED_JS + r"""
  const problems = [];
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += `#${el.id}`;
    if (el.classList.length) name += "." + Array.from(el.classList).join(".");
    return name;
  };
  for (const root of document.querySelectorAll(rootSelector)) {
    for (const el of root.querySelectorAll("*")) {
      if (exclude && el.closest(exclude)) continue;
      const hasText = Array.from(el.childNodes)
        .some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      if (!hasText || el.closest("[hidden]") || getComputedStyle(el).display === "none") continue;
      if (clippedAway(el)) continue;
      const style = getComputedStyle(el);
      const clipped = style.overflowX !== "visible" && style.textOverflow === "ellipsis";
      if (clipped && el.scrollWidth > el.clientWidth + 1 && !el.getAttribute("title")) {
        problems.push(`${describe(el)} "${el.textContent.trim().slice(0, 50)}": cut without a title`);
      }
      // Its box: the card (list item) or section it belongs to.
      const box = el.parentElement.closest("li, section, form, fieldset, header, aside, main") || root;
      const outer = box.getBoundingClientRect();
      for (const rect of el.getClientRects()) {
        if (rect.right > outer.right + 1 || rect.left < outer.left - 1) {
          problems.push(`${describe(el)} "${el.textContent.trim().slice(0, 50)}" runs past `
                        + `${describe(box)} (${Math.round(rect.left)}–${Math.round(rect.right)} `
                        + `outside ${Math.round(outer.left)}–${Math.round(outer.right)})`);
          break;
        }
      }
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth}px wide)`);
  }
  return problems;
}
"""


def contrast_failures(page, root: str = "body", *, exclude: str = "",
                      minimum: float = 4.5) -> tuple[int, list[str]]:
    """(elements checked, ``"element “text”: ratio, colour on background"`` for each failure).
    The lowest ratio met is printed (``pytest -s`` shows it)."""
    result = page.evaluate(CONTRAST_JS, [root, exclude, minimum])
    if result["checked"]:
        print(f"contrast {page.url} {root}: {result['checked']} texts, lowest {result['lowest']:.2f}:1")
    return result["checked"], [f"{p['element']} “{p['text']}”: {p['detail']}" for p in result["problems"]]


def overflow_failures(page, root: str = "body", *, exclude: str = "") -> list[str]:
    """Text that runs past the edge of its card or section, or is cut without a title."""
    return page.evaluate(OVERFLOW_JS, [root, exclude])
