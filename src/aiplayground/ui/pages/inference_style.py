"""The Inference page's styles: editor, probability bars, error panel, snippets and history,
in the light and the dark theme (the JSON tree gets dark colours through its variables)."""

from __future__ import annotations

from nicegui import ui
from nicegui.elements.codemirror.constants import SUPPORTED_THEMES

STYLE = """
<style>
  .aip-editor { border: 1px solid #e2e8f0; border-radius: .6rem; overflow: hidden; }
  .body--dark .aip-editor { border-color: #2a2f3a; }
  .aip-editor .cm-editor { height: 21rem; font-size: .82rem; }
  .aip-editor .cm-scroller { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
  .aip-editor .cm-gutters { border-right: none; }
  .aip-valid { color: #059669; }
  .body--dark .aip-valid { color: #34d399; }
  .aip-invalid { color: #dc2626; }
  .body--dark .aip-invalid { color: #f87171; }
  .aip-placeholder { border: 1px dashed #cbd5e1; border-radius: .7rem; min-height: 21rem; }
  .body--dark .aip-placeholder { border-color: #334155; }
  .aip-bars-grid { display: grid; gap: .75rem;
    grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); }
  .aip-bar { width: 100%; display: grid; grid-template-columns: minmax(2.5rem, 5.5rem) 1fr 3.2rem;
    align-items: center; gap: .5rem; font-size: .8rem; }
  .aip-bar-name { color: #64748b; }
  .body--dark .aip-bar-name { color: #94a3b8; }
  .aip-bar-best .aip-bar-name { color: inherit; font-weight: 600; }
  .aip-bar-value { text-align: right; font-variant-numeric: tabular-nums; }
  .aip-bar-track { height: .5rem; border-radius: 999px; background: #e8edf5; overflow: hidden;
    flex: 1; }
  .body--dark .aip-bar-track { background: #262c3a; }
  .aip-bar-fill { height: 100%; border-radius: 999px; background: #94a3b8; }
  .body--dark .aip-bar-fill { background: #64748b; }
  .aip-bar-best .aip-bar-fill, .aip-cell-bar .aip-bar-fill { background: var(--q-primary); }
  .body--dark .aip-bar-best .aip-bar-fill, .body--dark .aip-cell-bar .aip-bar-fill {
    background: #7c93f5; }
  .aip-cell-bar { display: flex; align-items: center; gap: .5rem; min-width: 9rem; }
  .aip-cell-bar .aip-bar-track { max-width: 6rem; }
  .aip-cell-bar span { font-variant-numeric: tabular-nums; font-size: .8rem; }
  .aip-error { border: 1px solid #fecaca; background: #fef2f2; border-radius: .7rem; }
  .body--dark .aip-error { border-color: #5b2323; background: rgba(220, 38, 38, .08); }
  .aip-error-message { color: #991b1b; overflow-wrap: anywhere; }
  .body--dark .aip-error-message { color: #fca5a5; }
  .aip-error .aip-pre { background: rgba(255, 255, 255, .6); word-break: normal;
    overflow-wrap: anywhere; }
  .body--dark .aip-error .aip-pre { background: rgba(0, 0, 0, .25); }
  .aip-snippet { position: relative; width: 100%; }
  .aip-snippet-copy { position: absolute; top: .3rem; right: .3rem; }
  .aip-history-row { border-radius: .5rem; }
  .aip-toggle { border: 1px solid rgba(0, 0, 0, .24); border-radius: .3rem; }
  .aip-toggle .q-btn { min-height: 2.35rem; padding: 0 .9rem; }
  .body--dark .aip-toggle { border-color: rgba(255, 255, 255, .28); }
  .aip-history-row:hover { background: rgba(100, 116, 139, .08); }
  .aip-json { max-height: 26rem; --jse-theme-color: #3559e0;
    --jse-theme-color-highlight: #4a6cf0; --jse-main-border: 1px solid #e2e8f0;
    --jse-font-family-mono: ui-monospace, SFMono-Regular, Menlo, monospace;
    --jse-font-size-mono: 13px; border-radius: .6rem; overflow: hidden; }
  .body--dark .aip-json { --jse-main-border: 1px solid #2a2f3a;
    --jse-background-color: #1b2029; --jse-text-color: #e2e8f0;
    --jse-panel-background: #161a23; --jse-panel-color: #cbd5e1;
    --jse-panel-border: #2a2f3a; --jse-key-color: #a9bcff; --jse-delimiter-color: #94a3b8;
    --jse-value-color-number: #fbbf24; --jse-value-color-string: #86efac;
    --jse-value-color-boolean: #f0abfc; --jse-value-color-null: #f0abfc;
    --jse-hover-background-color: #232938; --jse-selection-background-color: #2c3a66;
    --jse-collapsed-items-background-color: #232938; --jse-collapsed-items-link-color: #a9bcff;
    --jse-tag-background: #334155; --jse-tag-color: #e2e8f0;
    --jse-contents-background-color: #1b2029; --jse-context-menu-background: #232938; }
</style>
"""

# Tell the server whenever the page turns dark or light (the theme toggle, or the system
# when the user follows it), so the code editor can switch its own theme; and note when
# Ctrl/Cmd+Enter sends, for the round trip (capture phase: before the editor takes the key).
PAGE_SCRIPT = """
(() => {
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') window.aipSentAt = performance.now();
  }, true);
  let last = null;
  const send = () => {
    const dark = document.body.classList.contains('body--dark');
    if (dark !== last) { last = dark; emitEvent('aip-dark', dark); }
  };
  new MutationObserver(send).observe(document.body, {attributes: true, attributeFilter: ['class']});
  send();
})()
"""
EDITOR_THEMES: dict[bool, SUPPORTED_THEMES] = {False: "githubLight", True: "githubDark"}
# Marks the click in the browser; ROUND_TRIP, run once the answer is drawn, reads it back.
MARK_CLICK = "() => { window.aipSentAt = performance.now(); emit(); }"
ROUND_TRIP = (
    "(() => { const t = window.aipSentAt; window.aipSentAt = undefined;"
    " return t === undefined ? null : performance.now() - t; })()"
)


def add_style() -> None:
    """Add the page's styles (once per page)."""
    ui.add_head_html(STYLE)
