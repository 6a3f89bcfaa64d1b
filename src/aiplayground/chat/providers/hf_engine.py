"""The transformers engine that runs inside an LLM worker process (causal-LM folders).

Sampling and greedy decoding stream token by token; beam search (transformers' own) and
diverse beam search answer in one piece at the end; contrastive search streams. Every
mode checks the cancel flag between steps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiplayground.chat.providers.stops import StopScanner
from aiplayground.errors import InvalidInput, require_extra

EXTRA = "llm-torch"
# Used when a tokenizer carries no chat template of its own.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] | capitalize }}: "
    "{{ message['content'] }}\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


@dataclass
class Prepared:
    """A tokenized request, checked against the context window."""

    tokens: list[int]
    prompt_tokens: int
    max_new_tokens: int


def _gguf(name: Any) -> dict[str, Any]:
    """transformers' argument that loads a .gguf file of the folder (dequantized)."""
    return {"gguf_file": str(name)} if name else {}


def load(spec: dict[str, Any]) -> HFEngine:
    """Load tokenizer, model and LoRA adapters (merged) from local folders only."""
    torch = require_extra("torch", EXTRA)
    transformers = require_extra("transformers", EXTRA)
    torch.set_num_threads(int(spec["threads"]))
    trusted = bool(spec.get("trusted"))
    base = spec.get("base_path") or spec["path"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        spec.get("tokenizer_path") or base,
        local_files_only=True,
        trust_remote_code=trusted,
        **_gguf(spec.get("tokenizer_gguf_file")),
    )
    device = spec.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    gguf = _gguf(spec.get("gguf_file"))
    model = transformers.AutoModelForCausalLM.from_pretrained(
        base,
        local_files_only=True,
        trust_remote_code=trusted,
        # A GGUF is dequantized to fp32; "auto" would look for the dtype in a torch file.
        dtype=torch.float32 if gguf else "auto",
        **gguf,
    )
    for adapter in spec.get("adapters") or []:
        peft = require_extra("peft", EXTRA)
        model = peft.PeftModel.from_pretrained(model, adapter, local_files_only=True)
        model = model.merge_and_unload()
    model.to(device).eval()
    positions = int(getattr(model.config, "max_position_embeddings", 0) or spec["context_tokens"])
    window = min(int(spec["context_tokens"]), positions)
    return HFEngine(model, tokenizer, torch, transformers, window, int(spec["max_new_tokens"]))


class HFEngine:
    """One loaded transformers model."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        torch: Any,
        transformers: Any,
        context_window: int,
        default_max_new_tokens: int,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.torch = torch
        self.transformers = transformers
        self.n_ctx = context_window
        self.default_max_new_tokens = default_max_new_tokens
        # Fast tokenizers refuse concurrent use ("Already borrowed"); the reader thread
        # tokenizes while the main thread decodes.
        self.lock = threading.Lock()
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])

    def info(self) -> dict[str, Any]:
        """The context window."""
        return {"context_window": self.n_ctx}

    def _tokens(self, prompt: list[dict[str, str]] | str) -> list[int]:
        with self.lock:
            if isinstance(prompt, str):
                return list(self.tokenizer(prompt)["input_ids"])
            template = self.tokenizer.chat_template or FALLBACK_TEMPLATE
            try:
                text = self.tokenizer.apply_chat_template(
                    prompt, chat_template=template, add_generation_prompt=True, tokenize=False
                )
            except Exception as exc:  # jinja's raise_exception in the model's own template
                raise InvalidInput(
                    f"the model's chat template refused the messages: {exc}"
                ) from exc
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count(self, prompt: list[dict[str, str]] | str) -> int:
        """Tokens of the rendered prompt."""
        return len(self._tokens(prompt))

    def prepare(self, prompt: list[dict[str, str]] | str, params: dict[str, Any]) -> Prepared:
        """Tokenize; refuse what cannot fit or combine."""
        check_modes(params)
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

    def _decode(self, tokens: list[int]) -> str:
        with self.lock:
            text: str = self.tokenizer.decode(tokens, skip_special_tokens=True)
            return text

    def generate(
        self,
        prepared: Prepared,
        params: dict[str, Any],
        should_stop: Callable[[], bool],
        emit: Callable[[str, int], None],
    ) -> tuple[str, int]:
        """Run the decoding mode the parameters ask for."""
        torch = self.torch
        if params.get("seed") is not None:
            torch.manual_seed(int(params["seed"]))
        ids = torch.tensor([prepared.tokens], device=self.model.device)
        scanner = StopScanner(params.get("stop"))
        out = _Emitter(self._decode, scanner, emit)
        limit = prepared.max_new_tokens
        from aiplayground.chat.providers import decoding

        if params.get("penalty_alpha"):
            finish, produced = decoding.contrastive_search(
                self.model,
                ids,
                alpha=float(params["penalty_alpha"]),
                top_k=int(params["top_k"]),
                max_new_tokens=limit,
                eos_ids=self.eos_ids,
                on_token=out.token,
                should_stop=should_stop,
                process_logits=self._processors(params),
            )
            out.finish()
            return finish, produced
        if int(params.get("num_beam_groups") or 1) > 1:
            finish, tokens = decoding.group_beam_search(
                self.model,
                ids,
                num_beams=int(params["num_beams"]),
                num_groups=int(params["num_beam_groups"]),
                diversity_penalty=float(params.get("diversity_penalty", 0.5)),
                max_new_tokens=limit,
                eos_ids=self.eos_ids,
                should_stop=should_stop,
            )
            out.whole(tokens)
            return finish, len(tokens)
        return self._generate(ids, params, limit, should_stop, out)

    def _processors(self, params: dict[str, Any]) -> Callable[[Any, Any], Any] | None:
        penalty = params.get("repetition_penalty")
        if penalty is None:
            return None
        processor = self.transformers.RepetitionPenaltyLogitsProcessor(float(penalty))
        return lambda ids, logits: processor(ids, logits)

    def _generate(
        self,
        ids: Any,
        params: dict[str, Any],
        limit: int,
        should_stop: Callable[[], bool],
        out: _Emitter,
    ) -> tuple[str, int]:
        transformers = self.transformers
        beams = int(params.get("num_beams") or 1)

        torch = self.torch

        def stop(input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            flag = should_stop() or out.scanner.stopped
            return torch.full(
                (input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device
            )

        kwargs: dict[str, Any] = {"max_new_tokens": limit, "min_new_tokens": 0}
        names = ("do_sample", "temperature", "top_k", "top_p", "repetition_penalty")
        kwargs.update({k: params[k] for k in names if k in params})
        if params.get("temperature") == 0:
            kwargs.update(do_sample=False, temperature=None)
        if beams > 1:
            kwargs["num_beams"] = beams
        else:
            kwargs["streamer"] = _Streamer(out, self.eos_ids)
        result = self.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            stopping_criteria=transformers.StoppingCriteriaList([stop]),
            pad_token_id=self.tokenizer.pad_token_id or next(iter(self.eos_ids), 0),
            **kwargs,
        )
        generated = [int(t) for t in result[0, ids.shape[1] :]]
        ended = bool(generated) and generated[-1] in self.eos_ids
        while generated and generated[-1] in self.eos_ids:
            generated.pop()
        if beams > 1:
            out.whole(generated)
        else:
            out.finish()
        if should_stop():
            return "cancelled", len(generated)
        stopped = ended or out.scanner.stopped or len(generated) < limit
        return ("stop" if stopped else "length"), len(generated)


def check_modes(params: dict[str, Any]) -> None:
    """Refuse combinations no decoding mode implements."""
    beams = int(params.get("num_beams") or 1)
    groups = int(params.get("num_beam_groups") or 1)
    if params.get("penalty_alpha"):
        if int(params.get("top_k") or 0) < 2:
            raise InvalidInput(
                "contrastive search (penalty_alpha) needs top_k of 2 or more",
                details={"param": "top_k"},
            )
        if beams > 1 or params.get("do_sample"):
            raise InvalidInput(
                "contrastive search (penalty_alpha) cannot be combined with num_beams or do_sample",
                details={"param": "penalty_alpha"},
            )
    if groups > 1 and (beams % groups or beams < groups):
        raise InvalidInput(
            "num_beams must be a multiple of num_beam_groups", details={"param": "num_beam_groups"}
        )
    if groups > 1 and params.get("do_sample"):
        raise InvalidInput(
            "diverse beam search (num_beam_groups) does not sample; drop do_sample",
            details={"param": "do_sample"},
        )


class _Emitter:
    """Turns generated tokens into text pieces (stop sequences held back) for `emit`."""

    def __init__(
        self,
        decode: Callable[[list[int]], str],
        scanner: StopScanner,
        emit: Callable[[str, int], None],
    ) -> None:
        self.decode = decode
        self.scanner = scanner
        self.emit = emit
        self.tokens: list[int] = []
        self.sent = ""
        self.unsent = 0

    def token(self, token: int) -> bool:
        """Add one token; True once a stop sequence was reached."""
        self.tokens.append(token)
        self.unsent += 1
        text = self.decode(self.tokens)
        if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            return False
        piece = self.scanner.feed(text[len(self.sent) :])
        self.sent = text
        if piece:
            self.emit(piece, self.unsent)
            self.unsent = 0
        return self.scanner.stopped

    def whole(self, tokens: list[int]) -> None:
        """Emit a finished answer in one piece (beam searches)."""
        for token in tokens:
            if self.token(token):
                break
        self.finish()

    def finish(self) -> None:
        """Emit what was held back."""
        tail = self.scanner.flush()
        if tail or self.unsent:
            self.emit(tail, self.unsent)
            self.unsent = 0


class _Streamer:
    """transformers' streamer interface (put/end) over `_Emitter`."""

    def __init__(self, out: _Emitter, eos_ids: set[int]) -> None:
        self.out = out
        self.eos_ids = eos_ids
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        """Take the tokens generated in one step."""
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            if token not in self.eos_ids and not self.out.scanner.stopped:
                self.out.token(int(token))

    def end(self) -> None:
        """Generation ended; `_Emitter.finish` flushes what was held."""
