"""The catalog pages' styles: cards, chips, tables, code blocks and rendered Markdown, in
the light and the dark theme."""

from __future__ import annotations

from nicegui import ui

STYLE = """
<style>
  .aip-entry { height: 100%; transition: box-shadow .15s ease, border-color .15s ease; }
  .aip-entry:hover { border-color: #c7d2fe; box-shadow: 0 6px 20px rgba(15, 23, 42, .07); }
  .body--dark .aip-entry:hover { border-color: #3b4a7a; box-shadow: none; }
  .aip-chip { display: inline-flex; align-items: center; gap: .25rem; font-size: .75rem;
    line-height: 1.1rem; padding: .1rem .55rem; border-radius: 999px; white-space: nowrap;
    background: #eef2f7; color: #334155; max-width: 100%; overflow: hidden;
    text-overflow: ellipsis; }
  .body--dark .aip-chip { background: #232938; color: #cbd5e1; }
  .aip-chip .q-icon { font-size: .95rem; }
  .aip-chip-outline { background: transparent; border: 1px solid #e2e8f0; }
  .body--dark .aip-chip-outline { background: transparent; border-color: #334155; }
  .aip-chip-accent { background: color-mix(in srgb, var(--aip-accent) 12%, transparent);
    color: var(--aip-accent); font-weight: 500; }
  .body--dark .aip-chip-accent {
    color: color-mix(in srgb, var(--aip-accent) 45%, white); }
  .aip-avatar { width: 2.6rem; height: 2.6rem; border-radius: .75rem; flex: none;
    display: flex; align-items: center; justify-content: center;
    background: color-mix(in srgb, var(--aip-accent) 13%, transparent);
    color: var(--aip-accent); }
  .body--dark .aip-avatar { color: color-mix(in srgb, var(--aip-accent) 45%, white); }
  .aip-mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
  .aip-pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .8rem;
    white-space: pre-wrap; word-break: break-all; padding: .75rem 1rem; border-radius: .6rem;
    background: #f1f5f9; color: #1e293b; max-height: 22rem; overflow: auto; width: 100%; }
  .body--dark .aip-pre { background: #1b2029; color: #e2e8f0; }
  .aip-pre.aip-pre-nowrap { white-space: pre; word-break: normal; overflow-x: auto; }
  .aip-section-title { font-size: .8rem; font-weight: 600; letter-spacing: .04em;
    text-transform: uppercase; color: #64748b; }
  .body--dark .aip-section-title { color: #94a3b8; }
  .aip-kv { display: grid; grid-template-columns: max-content 1fr; gap: .45rem 1rem;
    font-size: .9rem; align-items: baseline; }
  .aip-kv > .aip-k { color: #64748b; }
  .body--dark .aip-kv > .aip-k { color: #94a3b8; }
  .aip-crumbs a { color: inherit; text-decoration: none; }
  .aip-crumbs a:hover { text-decoration: underline; }
  .aip-metric { border: 1px solid #e5e7eb; border-radius: .7rem; padding: .6rem .9rem; }
  .body--dark .aip-metric { border-color: #2a2f3a; }
  .aip-table { border: 1px solid #e5e7eb; border-radius: .7rem; }
  .body--dark .aip-table { border-color: #2a2f3a; background: transparent; }
  .aip-table th { font-weight: 600; }
  .body--dark .aip-table th, .body--dark .aip-table td { border-color: #2a2f3a; }
  .aip-table-scroll .q-table__middle { max-height: 26rem; }
  .aip-table-scroll thead tr th { position: sticky; top: 0; z-index: 1; background: #fff; }
  .body--dark .aip-table-scroll thead tr th { background: #161a23; }
  .aip-uploader { border-radius: .7rem; }
  .aip-uploader .q-uploader__header { background: transparent; color: inherit;
    border-bottom: 1px dashed #cbd5e1; }
  .body--dark .aip-uploader .q-uploader__header { border-color: #334155; }
  .aip-uploader .q-uploader__list { min-height: 0; padding: 0 .5rem; }
  .aip-uploader .q-uploader__list:empty { padding: 0; }
  .aip-markdown { line-height: 1.65; overflow-wrap: anywhere; }
  .aip-markdown > :first-child { margin-top: 0; }
  .aip-markdown h1 { font-size: 1.5rem; font-weight: 600; margin: 1.2rem 0 .5rem; }
  .aip-markdown h2 { font-size: 1.25rem; font-weight: 600; margin: 1.1rem 0 .4rem; }
  .aip-markdown h3, .aip-markdown h4, .aip-markdown h5, .aip-markdown h6 {
    font-size: 1.05rem; font-weight: 600; margin: 1rem 0 .3rem; }
  .aip-markdown p { margin: .55rem 0; }
  .aip-markdown ul { list-style: disc; padding-left: 1.5rem; margin: .5rem 0; }
  .aip-markdown ol { list-style: decimal; padding-left: 1.5rem; margin: .5rem 0; }
  .aip-markdown a { color: var(--q-primary); text-decoration: underline; }
  .body--dark .aip-markdown a { color: #a9bcff; }
  .aip-markdown code { font-family: ui-monospace, monospace; font-size: .85em;
    padding: .1rem .35rem; border-radius: .35rem; background: #eef2f7; }
  .body--dark .aip-markdown code { background: #232938; }
  .aip-markdown pre { padding: .75rem 1rem; border-radius: .6rem; background: #f1f5f9;
    overflow-x: auto; margin: .7rem 0; }
  .body--dark .aip-markdown pre { background: #1b2029; }
  .aip-markdown pre code { padding: 0; background: none; }
  .aip-markdown blockquote { border-left: 3px solid #cbd5e1; padding-left: .9rem;
    color: #64748b; margin: .6rem 0; }
  .aip-markdown table { border-collapse: collapse; margin: .7rem 0; }
  .aip-markdown th, .aip-markdown td { border: 1px solid #e2e8f0; padding: .35rem .65rem; }
  .body--dark .aip-markdown th, .body--dark .aip-markdown td { border-color: #334155; }
  .aip-markdown img { max-width: 100%; }
  .aip-markdown hr { margin: 1rem 0; border-color: #e2e8f0; }
</style>
"""


def add_style() -> None:
    """Add the catalog's styles to the page (once per page)."""
    ui.add_head_html(STYLE)
