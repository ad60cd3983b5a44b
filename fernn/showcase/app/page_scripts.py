"""The two things a phone needs that Streamlit 1.67 does not do, as small scripts in the page
(``st.html`` with JavaScript is not iframed: it reaches Streamlit's sidebar and the clipboard).

- **The sidebar closes itself after a change on a narrow screen.** Under Streamlit's ``md``
  breakpoint the sidebar lies over the page (300 of a 390 px phone), and it stays open after a
  change. ``initial_sidebar_state`` cannot close it again: once a visitor has opened it, the
  browser remembers that choice and Streamlit prefers it to the app's. So a script watches the
  sidebar: after a touch or key there has started a run (a control changed) and the visitor has
  let go for :data:`IDLE_MS`, it presses the sidebar's own collapse button. A wider screen,
  where the sidebar sits beside the page, is never touched.
- **A share link that a finger can copy.** ``st.code``'s copy button appears on hover only;
  :func:`copy_link_button` shows the link as text and adds a plain button that copies it.
"""

from __future__ import annotations

import html
import json

import streamlit as st

IDLE_MS = 1000  # a second stroke of a drawn digit, or a second tap on "+", comes sooner than this
NARROW = "(max-width: 767.98px)"  # Streamlit's md breakpoint (768 px), at or under which the sidebar overlays

# Installed once per page (a rerun draws the element again). Streamlit marks the app with its run
# state (data-test-script-state) and the sidebar with data-collapsed; pointer events in a
# same-origin iframe in the sidebar (the drawing canvas) count as touches there.
_CLOSER = """<script>
(() => {
  if (window.fernnSidebarCloser) return;
  window.fernnSidebarCloser = true;
  const narrow = window.matchMedia(__NARROW__), idleMs = __IDLE_MS__;
  let touched = 0, pressed = false, armed = false, ran = false;
  const sidebar = () => document.querySelector('[data-testid="stSidebar"]');
  const open = () => sidebar()?.dataset.collapsed === "false";
  const touch = (down) => () => { touched = Date.now(); pressed = down; armed = true; };
  const listen = (target, inSidebar) => {
    for (const [name, down] of [["pointerdown", true], ["pointerup", false], ["pointercancel", false],
                                ["keydown", false]])
      target.addEventListener(name, (event) => { if (inSidebar(event)) touch(down)(); }, true);
  };
  listen(document, (event) => sidebar()?.contains(event.target));
  const watched = new WeakSet();
  const watchFrames = () => {
    for (const frame of sidebar()?.querySelectorAll("iframe") ?? []) {
      try {
        const inner = frame.contentWindow;
        if (inner && inner.document.readyState === "complete" && !watched.has(inner.document)) {
          watched.add(inner.document);
          listen(inner, () => true);
        }
      } catch (error) { /* another origin: its touches go unseen */ }
    }
  };
  new MutationObserver(() => {
    const state = document.querySelector(".stApp")?.dataset.testScriptState;
    if (armed && (state === "running" || state === "rerunRequested")) ran = true;
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ["data-test-script-state"]});
  setInterval(() => {
    watchFrames();
    if (!narrow.matches || !open()) { armed = ran = false; return; }
    if (!ran || pressed || Date.now() - touched < idleMs) return;
    armed = ran = false;
    document.querySelector('[data-testid="stSidebarCollapseButton"] button')?.click();
  }, 200);
})();
</script>""".replace("__NARROW__", json.dumps(NARROW)).replace("__IDLE_MS__", str(IDLE_MS))

# The link travels in a data attribute; navigator.clipboard needs a secure context (https or this
# machine), else the selected text is copied the old way.
_COPY = """<div>
<div class="fernn-link" style="font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.8rem;
  overflow-wrap: anywhere; user-select: all; padding: 0.5rem 0.6rem; margin-bottom: 0.5rem; border-radius: 0.5rem;
  background: rgba(128, 128, 128, 0.12)">__LINK__</div>
<button type="button" data-link="__LINK__" style="font: inherit; color: inherit; background: transparent;
  border: 1px solid rgba(128, 128, 128, 0.45); border-radius: 0.5rem; padding: 0.55rem 0.9rem; min-height: 2.75rem;
  cursor: pointer">Copy link</button>
<span role="status" style="margin-left: 0.5rem; font-size: 0.875rem"></span>
<script>
(() => {
  const box = document.currentScript.parentElement;
  const button = box.querySelector("button"), status = box.querySelector("span");
  const fallback = (text) => {
    const area = Object.assign(document.createElement("textarea"), {value: text, readOnly: true});
    area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area); area.select();
    const done = document.execCommand("copy"); area.remove();
    return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  };
  button.addEventListener("click", () => {
    const text = button.dataset.link;
    const copied = navigator.clipboard?.writeText ? navigator.clipboard.writeText(text).catch(() => fallback(text))
                                                  : fallback(text);
    copied.then(() => { status.textContent = "Copied ✓"; },
                () => { status.textContent = "Press and hold the link above to copy it."; });
  });
})();
</script>
</div>"""


def close_sidebar_after_change() -> None:
    """The script that closes the sidebar after a change on a narrow screen (see the module)."""
    st.html(_CLOSER, unsafe_allow_javascript=True)


def copy_link_button(url: str) -> None:
    """``url`` as plain text (a tap selects it all) and a button that copies it to the clipboard, by
    touch or click, and says whether it did. Not ``st.code``: its box made every first visit load
    Streamlit's 1.5 MB syntax highlighter, about 0.3 s before the first animation frame."""
    st.html(_COPY.replace("__LINK__", html.escape(url, quote=True)), unsafe_allow_javascript=True)
