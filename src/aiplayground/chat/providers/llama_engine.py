"""The llama.cpp engine that runs inside an LLM worker process (GGUF models).

Generation is a token loop of our own over `Llama.generate`, so that cancellation is
checked between tokens (and between prompt batches), token counts are exact, and stop
sequences never leak into the output.
"""

from __future__ import annotations

import codecs
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiplayground.chat.providers.stops import StopScanner
from aiplayground.errors import InvalidInput, require_extra

PREFILL_BATCH = 256
# Used when a GGUF file carries no chat template of its own.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass
class Prepared:
    """A tokenized request, checked against the context window."""

    tokens: list[int]
    prompt_tokens: int
    max_new_tokens: int


def load(spec: dict[str, Any]) -> LlamaEngine:
    """Load the GGUF file named in the spec (called in the worker process)."""
    llama_cpp = require_extra("llama_cpp", "llm")
    path = spec["path"]
    # A vocabulary-only load reads the metadata cheaply, to cap n_ctx by the training context.
    probe = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    arch = probe.metadata.get("general.architecture", "llama")
    trained = int(probe.metadata.get(f"{arch}.context_length") or 0)
    probe.close()
    n_ctx = min(int(spec["context_tokens"]), trained or int(spec["context_tokens"]))
    llm = llama_cpp.Llama(
        model_path=path,
        n_ctx=n_ctx,
        n_batch=PREFILL_BATCH,
        n_threads=int(spec["threads"]),
        n_threads_batch=int(spec["threads"]),
        verbose=False,
    )
    return LlamaEngine(llm, llama_cpp, default_max_new_tokens=int(spec["max_new_tokens"]))


class LlamaEngine:
    """One loaded llama.cpp model; `generate` runs on one thread, the rest on any."""

    def __init__(self, llm: Any, llama_cpp: Any, *, default_max_new_tokens: int) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = llm
        self.llama_cpp = llama_cpp
        self.default_max_new_tokens = default_max_new_tokens
        self.n_ctx = int(llm.n_ctx())
        model = llm._model
        eos = model.token_eos()
        bos = model.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=llm.metadata.get("tokenizer.chat_template") or FALLBACK_TEMPLATE,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
        )
        self.add_bos = bool(model.add_bos_token())

    def info(self) -> dict[str, Any]:
        """The context window the model was loaded with."""
        return {"context_window": self.n_ctx}

    def _tokens(self, prompt: list[dict[str, str]] | str) -> list[int]:
        if isinstance(prompt, str):
            return list(self.llm.tokenize(prompt.encode(), add_bos=self.add_bos, special=True))
        try:
            text = self.formatter(messages=cast(Any, prompt)).prompt
        except ValueError as exc:  # the template's raise_exception: e.g. roles out of order
            raise InvalidInput(f"the model's chat template refused the messages: {exc}") from exc
        # The template writes BOS itself where the model wants one.
        return list(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def count(self, prompt: list[dict[str, str]] | str) -> int:
        """Tokens of the rendered prompt."""
        return len(self._tokens(prompt))

    def prepare(self, prompt: list[dict[str, str]] | str, params: dict[str, Any]) -> Prepared:
        """Tokenize; refuse a prompt that leaves no room to answer."""
        tokens = self._tokens(prompt)
        size = len(tokens)
        if size >= self.n_ctx:
            raise InvalidInput(
                f"the prompt takes {size} tokens but the model's context window is "
                f"{self.n_ctx}; shorten it",
                details={"param": "messages", "prompt_tokens": size, "context": self.n_ctx},
            )
        wanted = int(params.get("max_new_tokens") or self.default_max_new_tokens)
        return Prepared(tokens, size, min(wanted, self.n_ctx - size))

    def generate(
        self,
        prepared: Prepared,
        params: dict[str, Any],
        should_stop: Callable[[], bool],
        emit: Callable[[str, int], None],
    ) -> tuple[str, int]:
        """Prefill in batches, then sample token by token until a stop, the limit or cancel."""
        llm = self.llm
        if not self._prefill(prepared.tokens, should_stop):
            return "cancelled", 0
        greedy = params.get("do_sample") is False or params.get("temperature") == 0
        seed = params.get("seed")
        llm.set_seed(int(seed) if seed is not None else random.getrandbits(32))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        scanner = StopScanner(params.get("stop"))
        vocab = llm._model.vocab
        produced = unsent = 0
        finish = "length"
        for token in llm.generate(
            prepared.tokens,
            temp=0.0 if greedy else float(params.get("temperature", 0.8)),
            top_k=int(params.get("top_k", 40)),
            top_p=float(params.get("top_p", 0.95)),
            repeat_penalty=float(params.get("repetition_penalty", 1.0)),
            presence_penalty=float(params.get("presence_penalty", 0.0)),
            frequency_penalty=float(params.get("frequency_penalty", 0.0)),
        ):
            if self.llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            produced += 1
            unsent += 1
            text = scanner.feed(decoder.decode(llm.detokenize([token])))
            if text:
                emit(text, unsent)
                unsent = 0
            if scanner.stopped:
                finish = "stop"
                break
            if produced >= prepared.max_new_tokens or should_stop():
                break
        tail = scanner.flush() + ("" if scanner.stopped else decoder.decode(b"", final=True))
        if tail or unsent:
            emit(tail, unsent)
        return ("cancelled" if should_stop() else finish), produced

    def _prefill(self, tokens: list[int], should_stop: Callable[[], bool]) -> bool:
        # Evaluate the prompt (all but its last token) in batches, checking for a cancel
        # between them; `generate` then finds this prefix in the cache and goes on from it.
        llm = self.llm
        keep = 0
        for cached, wanted in zip(llm._input_ids.tolist(), tokens[:-1], strict=False):
            if cached != wanted:
                break
            keep += 1
        llm.n_tokens = keep
        rest = tokens[keep:-1]
        for start in range(0, len(rest), PREFILL_BATCH):
            if should_stop():
                return False
            llm.eval(rest[start : start + PREFILL_BATCH])
        return True
