"""The Chat page in a real browser, with the embedded SmolLM2 model: answers stream in,
settings change between questions, Stop really stops, and hostile answer content is
inert."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

# Generous: on a busy two-core machine SmolLM2 writes about five tokens a second.
ANSWER_TIMEOUT_MS = 60_000
HOSTILE_ANSWER = """\
Here is **still bold** text and a [safe link](https://example.org/docs).

<script>window.__xss=1</script>

[x](javascript:alert(1)) and [y](JaVaScRiPt:window.__xss=3)

<img src=x onerror="window.__xss=2">

![pixel](https://tracker.example/pixel.png)

```python
def greet(name):
    return "<script>window.__xss=4</script>" + name
```
"""


def open_chat(page: Page, base: str, model: str) -> None:
    page.goto(f"{base}/chat")
    expect(page.get_by_test_id("page-title")).to_have_text("Chat")
    page.get_by_test_id("chat-model").click()
    page.get_by_role("option", name=model, exact=True).click()
    expect(page.get_by_test_id("chat-model")).to_contain_text(model)
    expect(page.get_by_test_id("param-max_new_tokens")).to_be_visible()


def set_param(page: Page, name: str, value: str) -> None:
    field = page.get_by_test_id(f"param-{name}-input")
    field.fill(value)
    field.press("Tab")


def ask(page: Page, question: str) -> None:
    page.get_by_test_id("chat-input").fill(question)
    page.get_by_test_id("chat-input").press("Enter")


def wait_until_answered(page: Page, count: int) -> None:
    """Wait for answer number `count` to be stored (its meta line shows the numbers)."""
    answers = page.get_by_test_id("chat-answer")
    expect(answers).to_have_count(count)
    expect(answers.nth(count - 1).get_by_test_id("answer-meta")).to_contain_text(
        "tokens", timeout=ANSWER_TIMEOUT_MS
    )
    expect(page.get_by_test_id("chat-send")).to_be_visible()


LAST_ANSWER_WHILE_STREAMING = """() => {
    const answers = document.querySelectorAll('[data-testid=chat-answer]');
    const stop = document.querySelector('[data-testid=chat-stop]');
    const streaming = !!stop && stop.offsetParent !== null;
    const text = answers.length ? answers[answers.length - 1]
        .querySelector('[data-testid=answer-text]').textContent : '';
    return {streaming, length: text.length};
}"""


def sample(page: Page) -> dict[str, int | bool]:
    """Whether an answer is being written, and the length of the last one's text."""
    result: dict[str, int | bool] = page.evaluate(LAST_ANSWER_WHILE_STREAMING)
    return result


def wait_for_sample(page: Page, condition: str) -> dict[str, int | bool]:
    """The first sample `s` for which the JavaScript `condition` holds."""
    handle = page.wait_for_function(
        f"() => {{ const s = ({LAST_ANSWER_WHILE_STREAMING})(); "
        f"return ({condition}) ? s : false; }}",
        timeout=ANSWER_TIMEOUT_MS,
    )
    result: dict[str, int | bool] = handle.json_value()
    return result


def test_answers_stream_and_a_changed_temperature_applies_to_the_next_question(
    admin_page: Page, live_server: LiveServer, admin_api: httpx.Client, chat_model: str
) -> None:
    page, base = admin_page, live_server.base_url
    open_chat(page, base, chat_model)
    expect(page.get_by_test_id("param-temperature")).to_be_visible()
    # The embedded provider has no beam search: its controls are not offered.
    expect(page.get_by_test_id("param-num_beams")).to_have_count(0)
    set_param(page, "max_new_tokens", "32")

    ask(page, "Write a short story about a cat who learns physics.")
    expect(page.get_by_test_id("chat-user")).to_have_text(
        "Write a short story about a cat who learns physics."
    )
    # Two samples while the answer is being written: the text grows as tokens arrive.
    first = wait_for_sample(page, "s.streaming && s.length > 0")
    second = wait_for_sample(page, f"s.length > {first['length']}")
    assert first["streaming"]
    assert int(second["length"]) > int(first["length"])
    wait_until_answered(page, 1)
    meta = page.get_by_test_id("answer-meta").first
    expect(meta).to_contain_text("tokens/s")
    expect(meta).to_contain_text("first token")

    # The conversation is listed, titled after the first question.
    listed = page.get_by_test_id("chat-conversation").filter(has_text="a cat who learns")
    expect(listed).to_have_count(1)
    conversation_id = listed.get_attribute("data-id")
    assert page.url.endswith(f"/chat?c={conversation_id}")

    set_param(page, "temperature", "0.2")
    set_param(page, "max_new_tokens", "8")
    ask(page, "Now give the cat a name.")
    wait_until_answered(page, 2)
    expect(page.get_by_test_id("chat-user")).to_have_count(2)
    expect(listed).to_contain_text("4 messages")

    stored = admin_api.get(f"/api/v1/conversations/{conversation_id}").json()
    assert stored["model"] == chat_model
    assert stored["settings"] == {"temperature": 0.2, "max_new_tokens": 8}
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"] * 2
    assert stored["messages"][1]["params"]["max_new_tokens"] == 32
    assert "temperature" not in stored["messages"][1]["params"]
    assert stored["messages"][3]["params"]["temperature"] == 0.2


def test_hostile_answer_content_renders_inert(
    admin_page: Page, live_server: LiveServer, chat_model: str, tmp_path: Path
) -> None:
    # No model can be made to write this on cue: the conversation comes in through
    # Import, exactly as an exported conversation (from a malicious peer) would.
    exported = {
        "title": "Hostile <b>answer</b>",
        "model": chat_model,
        "settings": {},
        "messages": [
            {"role": "user", "content": "<script>window.__xss=5</script> show me"},
            {"role": "assistant", "content": HOSTILE_ANSWER, "tokens": 42},
        ],
    }
    upload = tmp_path / "hostile.json"
    upload.write_text(json.dumps(exported))
    page, base = admin_page, live_server.base_url
    page.goto(f"{base}/chat")
    page.get_by_test_id("chat-import").click()
    page.get_by_test_id("chat-import-file").locator("input[type=file]").set_input_files(upload)

    answer = page.get_by_test_id("answer-text")
    expect(answer).to_contain_text("still bold")
    expect(answer.locator("strong")).to_have_text("still bold")
    expect(page.get_by_test_id("chat-user")).to_have_text("<script>window.__xss=5</script> show me")
    expect(page.get_by_test_id("chat-conversation").first).to_contain_text("Hostile <b>answer</b>")
    # Code is highlighted on the server, as inert spans.
    expect(answer.locator("pre code .tok-k").first).to_have_text("def")
    expect(answer.locator("pre")).to_contain_text("window.__xss=4")

    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert answer.locator("script").count() == 0
    assert answer.locator("img").count() == 0  # the remote one is a link, not a request
    hrefs = answer.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "https://example.org/docs" in hrefs
    assert not [h for h in hrefs if h and h.strip().lower().startswith("javascript:")]
    assert page.locator("[onerror], [onclick]").count() == 0
    assert (
        page.evaluate(
            "[...document.querySelectorAll('a[href]')].filter(a => "
            "a.getAttribute('href').trim().toLowerCase().startsWith('javascript:')).length"
        )
        == 0
    )


def test_stop_ends_the_answer_and_the_model_serves_the_next_question(
    admin_page: Page, live_server: LiveServer, admin_api: httpx.Client, chat_model: str
) -> None:
    page, base = admin_page, live_server.base_url
    open_chat(page, base, chat_model)
    set_param(page, "max_new_tokens", "1000")
    ask(page, "Write a very long essay about the history of particle physics.")
    wait_for_sample(page, "s.streaming && s.length > 20")
    page.get_by_test_id("chat-stop").click()
    expect(page.get_by_test_id("answer-finish")).to_contain_text("Stopped")
    expect(page.get_by_test_id("chat-send")).to_be_visible()
    stopped = sample(page)
    page.wait_for_timeout(1000)
    assert sample(page)["length"] == stopped["length"]  # nothing more arrives

    set_param(page, "max_new_tokens", "8")
    ask(page, "Say hello.")
    wait_until_answered(page, 2)
    expect(page.get_by_test_id("answer-meta").nth(1)).to_contain_text("tokens/s")

    conversation_id = page.url.rsplit("c=", 1)[1]
    stored = admin_api.get(f"/api/v1/conversations/{conversation_id}").json()
    finishes = [m["finish_reason"] for m in stored["messages"] if m["role"] == "assistant"]
    assert finishes[0] == "cancelled"
    assert finishes[1] in ("stop", "length")
    # Far fewer tokens than asked for: generation really stopped.
    assert stored["messages"][1]["tokens"] < 1000
