"""What the browser tests of issue 17 measure in a page: the viewports (phone widths and zoom
levels), interactive elements that overlap, sideways scrolling, and axe-core 4.x.

Zoom: a browser zoomed to z% in a W × H window lays the page out in a viewport of W/z × H/z CSS
pixels with a device pixel ratio of z/100 (that is what zoom is: bigger CSS pixels). Chrome's
DevTools protocol sets exactly that viewport (Emulation.setDeviceMetricsOverride), so 200% and
400% of a 1280 × 1000 window are 640 × 500 and 320 × 250 CSS pixels at scale 2 and 4: the same media
queries, viewport units and line breaks as the zoomed window, and screenshots at the zoomed size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.availability import unavailable
from tests.shop_process import REPO_ROOT

AXE_JS = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"


@dataclass(frozen=True)
class View:
    name: str
    width: int
    height: int
    scale: int = 1
    mobile: bool = False

    def apply(self, driver) -> None:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": self.width, "height": self.height, "deviceScaleFactor": self.scale, "mobile": self.mobile,
        })


PHONES = [View("320px", 320, 640, mobile=True), View("360px", 360, 740, mobile=True),
          View("375px", 375, 812, mobile=True)]
LAPTOP = View("1280px", 1280, 900)
ZOOMS = [View("zoom200", 640, 500, scale=2), View("zoom400", 320, 250, scale=4)]
EVERY_VIEW = [*PHONES, LAPTOP, *ZOOMS]

# Every visible link, button and field, each with the part of it that is not clipped away by a
# scrolling or clipping ancestor; hidden ones (display, visibility, the 1 px visually-hidden idiom,
# clipped to nothing) are left out. Rectangles in CSS pixels of the page, not of the viewport.
_INTERACTIVE_JS = r"""
const selector = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, [tabindex]:not([tabindex="-1"])';
const found = [];
for (const el of document.querySelectorAll(selector)) {
  const style = getComputedStyle(el);
  if (style.visibility !== 'visible' || el.closest('[hidden], .visually-hidden')) continue;
  let r = el.getBoundingClientRect();
  let box = {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
  for (let up = el.parentElement; up && up !== document.documentElement; up = up.parentElement) {
    const s = getComputedStyle(up);
    if (s.display === 'contents') continue;
    if (s.overflowX !== 'visible' || s.overflowY !== 'visible' || s.clipPath === 'inset(50%)') {
      const c = up.getBoundingClientRect();
      if (s.clipPath === 'inset(50%)') { box = null; break; }
      if (s.overflowX !== 'visible') { box.left = Math.max(box.left, c.left); box.right = Math.min(box.right, c.right); }
      if (s.overflowY !== 'visible') { box.top = Math.max(box.top, c.top); box.bottom = Math.min(box.bottom, c.bottom); }
    }
    if (s.position === 'fixed') break;
  }
  if (!box || box.right - box.left < 2 || box.bottom - box.top < 2) continue;
  const fixed = !!(function () { for (let up = el; up; up = up.parentElement) { if (getComputedStyle(up).position === 'fixed') return up; } })();
  const label = (el.innerText || el.value || el.getAttribute('aria-label') || el.name || el.id || '').trim().slice(0, 40);
  found.push({el, label, tag: el.tagName.toLowerCase(), fixed,
              left: box.left + scrollX, top: box.top + scrollY, right: box.right + scrollX, bottom: box.bottom + scrollY});
}
return found;
"""

_OVERLAPS_JS = _INTERACTIVE_JS.replace("return found;", r"""
const overlaps = [];
for (let i = 0; i < found.length; i++) {
  for (let j = i + 1; j < found.length; j++) {
    const a = found[i], b = found[j];
    if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
    // A fixed overlay (the add-to-cart confirmation) lies over the page by design; what it may
    // not cover is tested as a behaviour of its own.
    if (a.fixed !== b.fixed) continue;
    const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (x > 0.5 && y > 0.5) overlaps.push(`${a.tag} "${a.label}" and ${b.tag} "${b.label}" overlap by ${x.toFixed(1)} x ${y.toFixed(1)} px`);
  }
}
return overlaps;
""")


def overlapping_controls(driver) -> list[str]:
    """Each pair of visible interactive elements whose boxes overlap (by more than half a pixel)."""
    return driver.execute_script(_OVERLAPS_JS)


def sideways_scroll(driver) -> int:
    """How many CSS pixels the page scrolls sideways (0: none)."""
    return driver.execute_script(
        "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - innerWidth")


def meta_description(driver) -> str:
    return driver.execute_script(
        "const m = document.querySelector('meta[name=\"description\"]'); return m ? m.content : ''")


def axe_source() -> str:
    """axe-core 4.x's axe.min.js from npm (make node-tools)."""
    if not AXE_JS.is_file():
        unavailable(f"no {AXE_JS.relative_to(REPO_ROOT)} (run `make node-tools`: npm installs axe-core)")
    return AXE_JS.read_text()


def axe_findings(driver, source: str) -> list[str]:
    """axe-core's violations of any impact, and its "needs review" items of impact serious or
    critical, each as one line."""
    driver.execute_script(source)
    results = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations', 'incomplete']})"
        ".then(r => done({version: axe.version, violations: r.violations, incomplete: r.incomplete}))"
        ".catch(e => done({error: String(e)}));")
    if "error" in results:
        return [f"axe failed: {results['error']}"]
    assert results["version"].startswith("4."), results["version"]
    found = [f"violation {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
             for v in results["violations"]]
    found += [f"needs review {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
              f" ({_why(v['nodes'][0])})"
              for v in results["incomplete"] if v["impact"] in ("serious", "critical")]
    return found


def _why(node: dict) -> str:
    return "; ".join(check["message"] for kind in ("any", "all", "none") for check in node.get(kind, []))


def save_screenshot(driver, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / f"{name}.png"))
