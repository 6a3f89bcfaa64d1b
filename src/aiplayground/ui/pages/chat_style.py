"""The Chat page's styles: the three-pane layout (conversations, thread, settings), message
bubbles, the composer and code highlighting, in the light and the dark theme.

Below 1280 px the settings pane, and below 1024 px the conversation list, become sheets
over the thread; a "flip" class on the grid toggles a pane from its default state.
"""

from __future__ import annotations

from nicegui import ui

from aiplayground.ui.pages.chat_markdown import highlight_css

STYLE = """
<style>
  .aip-chat-grid { display: grid; gap: .9rem; width: 100%;
    height: calc(100dvh - 10.5rem); min-height: 28rem;
    grid-template-columns: minmax(0, 1fr); }
  .aip-pane { display: flex; flex-direction: column; min-height: 0; min-width: 0;
    background: #fff; border: 1px solid #e5e7eb; border-radius: .9rem; overflow: hidden; }
  .body--dark .aip-pane { background: #161a23; border-color: #2a2f3a; }
  .aip-pane-head { display: flex; align-items: center; gap: .5rem; padding: .6rem .75rem;
    border-bottom: 1px solid #eef0f3; min-height: 3.25rem; }
  .body--dark .aip-pane-head { border-color: #232836; }
  .aip-pane-body { flex: 1 1 auto; overflow-y: auto; min-height: 0; }
  .aip-side-close { display: none; }
  @media (max-width: 639.98px) {
    .aip-chat-title .aip-muted { display: none; }
    .aip-chat-grid { height: calc(100dvh - 8rem); }
    .aip-bot-avatar { display: none; }
    .aip-thread { padding: 1rem .75rem; }
    .aip-composer-wrap { padding: .4rem .6rem .6rem; }
  }

  /* conversations pane (left) and settings pane (right) */
  .aip-convs, .aip-settings { display: none; }
  @media (min-width: 1024px) {
    .aip-chat-grid { grid-template-columns: 14rem minmax(0, 1fr); }
    .aip-convs { display: flex; }
    .aip-chat-grid.aip-convs-flip { grid-template-columns: minmax(0, 1fr); }
    .aip-chat-grid.aip-convs-flip .aip-convs { display: none; }
  }
  @media (min-width: 1280px) {
    .aip-chat-grid { grid-template-columns: 14rem minmax(0, 1fr) 18rem; }
    .aip-chat-grid.aip-convs-flip { grid-template-columns: minmax(0, 1fr) 18rem; }
    .aip-chat-grid .aip-settings { display: flex; }
    .aip-chat-grid.aip-settings-flip { grid-template-columns: 14rem minmax(0, 1fr); }
    .aip-chat-grid.aip-convs-flip.aip-settings-flip { grid-template-columns: minmax(0, 1fr); }
    .aip-chat-grid.aip-settings-flip .aip-settings { display: none; }
  }
  @media (max-width: 1023.98px) {
    .aip-chat-grid.aip-convs-flip .aip-convs { display: flex; }
    .aip-chat-grid.aip-convs-flip .aip-convs .aip-side-close { display: inline-flex; }
  }
  @media (max-width: 1279.98px) {
    .aip-chat-grid.aip-settings-flip .aip-settings { display: flex; }
    .aip-chat-grid.aip-settings-flip .aip-settings .aip-side-close { display: inline-flex; }
  }
  @media (max-width: 1279.98px) {
    .aip-chat-grid .aip-sheet { position: fixed; top: 3.6rem; bottom: .5rem; z-index: 2000;
      width: min(22rem, calc(100vw - 1rem)); box-shadow: 0 18px 50px rgba(15, 23, 42, .25); }
    .aip-chat-grid .aip-settings.aip-sheet { right: .5rem; }
    .aip-chat-grid .aip-convs.aip-sheet { left: .5rem; }
  }
  @media (min-width: 1024px) {
    .aip-chat-grid .aip-convs.aip-sheet { position: static; width: auto; box-shadow: none; }
  }
  @media (min-width: 1280px) {
    .aip-chat-grid .aip-settings.aip-sheet { position: static; width: auto; box-shadow: none; }
  }

  /* conversation list */
  .aip-conv { display: flex; align-items: center; gap: .35rem; padding: .45rem .4rem .45rem .7rem;
    border-radius: .6rem; cursor: pointer; }
  .aip-conv:hover { background: rgba(100, 116, 139, .10); }
  .aip-conv.aip-conv-active { background: rgba(53, 89, 224, .11); }
  .body--dark .aip-conv.aip-conv-active { background: rgba(120, 150, 255, .16); }
  .aip-conv-title { font-size: .88rem; font-weight: 500; white-space: nowrap; overflow: hidden;
    max-width: 100%;
    text-overflow: ellipsis; }
  .aip-conv-meta { font-size: .72rem; color: #6b7280; white-space: nowrap; overflow: hidden;
    max-width: 100%;
    text-overflow: ellipsis; }
  .body--dark .aip-conv-meta { color: #9ca3af; }

  /* status dot */
  @media (max-width: 639.98px) { .aip-status-label { display: none; } }
  .aip-dot { width: .6rem; height: .6rem; border-radius: 999px; flex: none;
    background: #94a3b8; box-shadow: 0 0 0 3px rgba(148, 163, 184, .22); }
  .aip-dot-loaded { background: #16a34a; box-shadow: 0 0 0 3px rgba(22, 163, 74, .20); }
  .aip-dot-remote { background: #2563eb; box-shadow: 0 0 0 3px rgba(37, 99, 235, .20); }
  .aip-dot-failed { background: #dc2626; box-shadow: 0 0 0 3px rgba(220, 38, 38, .20); }
  .aip-dot-loading { background: #d97706; animation: aip-pulse 1s ease-in-out infinite; }
  @keyframes aip-pulse { 50% { opacity: .35; } }

  /* thread */
  .aip-thread { display: flex; flex-direction: column; gap: 1.1rem; padding: 1.25rem 1rem 1.5rem;
    max-width: 52rem; width: 100%; margin: 0 auto; }
  .aip-msg-user { align-self: flex-end; max-width: min(85%, 40rem); padding: .6rem .95rem;
    border-radius: 1.1rem 1.1rem .3rem 1.1rem; background: #eef2ff; color: #1e1b4b;
    white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.55; }
  .body--dark .aip-msg-user { background: #283056; color: #e0e7ff; }
  .aip-msg-bot { display: flex; gap: .75rem; align-items: flex-start; width: 100%; }
  .aip-bot-avatar { width: 2rem; height: 2rem; border-radius: .6rem; flex: none;
    display: flex; align-items: center; justify-content: center;
    background: rgba(124, 58, 237, .12); color: #7c3aed; }
  .body--dark .aip-bot-avatar { background: rgba(167, 139, 250, .16); color: #c4b5fd; }
  .aip-bot-body { flex: 1 1 auto; min-width: 0; }
  .aip-answer:empty { display: none; }
  .aip-answer.aip-streaming > :last-child::after { content: ""; display: inline-block;
    width: .5rem; height: 1rem; margin-left: .15rem; vertical-align: text-bottom;
    background: currentColor; opacity: .55; animation: aip-pulse .9s steps(2) infinite; }
  .aip-answer pre { line-height: 1.45; font-size: .85rem; }
  .aip-answer pre code, .body--dark .aip-answer pre code { background: none; padding: 0; }
  .aip-msg-meta { display: flex; flex-wrap: wrap; align-items: center; gap: .15rem .7rem;
    font-size: .74rem; color: #6b7280; margin-top: .2rem; }
  .body--dark .aip-msg-meta { color: #9ca3af; }
  .aip-msg-meta .q-icon { font-size: .9rem; }
  .aip-msg-actions { display: flex; gap: .1rem; margin-left: -.4rem; }
  .aip-msg-actions .q-btn { color: #6b7280; }
  .body--dark .aip-msg-actions .q-btn { color: #9ca3af; }
  .aip-finish { display: inline-flex; align-items: center; gap: .2rem; font-size: .72rem;
    padding: .05rem .5rem; border-radius: 999px;
    background: #fef3c7; color: #92400e; }
  .body--dark .aip-finish { background: #3b2f12; color: #fcd34d; }
  .aip-finish-error { background: #fee2e2; color: #991b1b; }
  .body--dark .aip-finish-error { background: #3f1d1d; color: #fca5a5; }
  .aip-sources { display: flex; flex-wrap: wrap; gap: .35rem; margin-top: .4rem; }
  .aip-thinking { display: inline-flex; gap: .3rem; padding: .5rem 0; }
  .aip-thinking span { width: .45rem; height: .45rem; border-radius: 999px;
    background: currentColor; opacity: .35; animation: aip-bounce 1.2s infinite ease-in-out; }
  .aip-thinking span:nth-child(2) { animation-delay: .15s; }
  .aip-thinking span:nth-child(3) { animation-delay: .3s; }
  @keyframes aip-bounce { 40% { opacity: .9; transform: translateY(-3px); } }
  .aip-hero { margin: auto; max-width: 30rem; text-align: center; padding: 2rem 1rem; }
  .aip-suggestion { border: 1px solid #e5e7eb; border-radius: .8rem; padding: .55rem .8rem;
    font-size: .85rem; cursor: pointer; text-align: left; background: transparent;
    color: inherit; }
  .aip-suggestion { font-weight: 400; line-height: 1.4; }
  .aip-suggestion .q-btn__content { text-align: left; justify-content: flex-start; }
  .aip-suggestion:hover { border-color: #c7d2fe; background: rgba(53, 89, 224, .05); }
  .body--dark .aip-suggestion { border-color: #2a2f3a; }

  /* composer */
  .aip-composer-wrap { padding: .5rem 1rem .9rem; }
  .aip-composer { max-width: 52rem; margin: 0 auto; display: flex; align-items: flex-end;
    gap: .5rem; border: 1px solid #d9dee7; border-radius: 1.1rem;
    padding: .35rem .4rem .35rem .9rem;
    background: #fff; box-shadow: 0 2px 10px rgba(15, 23, 42, .05); }
  .aip-composer:focus-within { border-color: #8ea2f0; }
  .body--dark .aip-composer { background: #1b2029; border-color: #313849; box-shadow: none; }
  .aip-composer .q-field__control { padding: 0; }
  .aip-composer textarea { max-height: 12rem; line-height: 1.5; }
  .aip-composer-hint { max-width: 52rem; margin: .3rem auto 0; font-size: .72rem;
    text-align: center; color: #9ca3af; }

  /* settings */
  .aip-param { display: flex; flex-direction: column; gap: .1rem; }
  .aip-param-head { display: flex; align-items: center; gap: .3rem; font-size: .84rem;
    min-height: 1.6rem; }
  .aip-param-head .aip-param-state { margin-left: auto; font-size: .72rem; color: #9ca3af; }
  .aip-param-unset .q-slider { opacity: .45; }
  .aip-param .q-field--dense .q-field__control { min-height: 2.1rem; height: auto; }
  .aip-settings .q-expansion-item__container > .q-item { padding: .4rem .75rem;
    min-height: 2.6rem; font-weight: 600; font-size: .85rem; }
  .aip-settings .q-expansion-item__content { padding: 0 .75rem .75rem; }
  .aip-settings .q-expansion-item .q-item__section--avatar { min-width: 1.9rem; }
  .aip-settings .q-expansion-item .q-item__section--avatar .q-icon { font-size: 1.2rem;
    color: #64748b; }
  .body--dark .aip-settings .q-expansion-item .q-item__section--avatar .q-icon { color: #94a3b8; }
  .aip-settings .q-expansion-item + .q-expansion-item { border-top: 1px solid #eef0f3; }
  .body--dark .aip-settings .q-expansion-item + .q-expansion-item { border-color: #232836; }
  .aip-role { font-size: .68rem; font-weight: 600; letter-spacing: .05em;
    text-transform: uppercase; color: #64748b; }
</style>
"""


def add_style() -> None:
    """Add the Chat page's styles, the highlighting colours included (once per page)."""
    ui.add_head_html(STYLE + f"<style>{highlight_css()}</style>")
