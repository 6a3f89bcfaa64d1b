"""Contrastive search and diverse (group) beam search over a causal LM with a KV cache.

transformers 5 moved both out of its core into code fetched from the Hub at run time,
which this platform never does; these are compact versions of the published algorithms
(Su et al. 2022, "A Contrastive Framework for Neural Text Generation"; Vijayakumar et al.
2018, "Diverse Beam Search"). torch is imported by the caller's process only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def _step(model: Any, ids: Any, cache: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """One forward pass with the KV cache: (outputs, cache). transformers 5 renamed
    `past_key_values` to `cache`; both spellings are served."""
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    if cache is not None:
        kwargs[name] = cache
    out = model(input_ids=ids, use_cache=True, **kwargs)
    return out, getattr(out, name)


def contrastive_search(
    model: Any,
    input_ids: Any,
    *,
    alpha: float,
    top_k: int,
    max_new_tokens: int,
    eos_ids: set[int],
    on_token: Callable[[int], bool],
    should_stop: Callable[[], bool],
    process_logits: Callable[[Any, Any], Any] | None = None,
) -> tuple[str, int]:
    """Pick, among the top-k tokens, the one that is likely yet least like the context.

    on_token(token) returns True to stop (a stop sequence was reached).
    Returns (finish_reason, generated token count).
    """
    import torch

    with torch.no_grad():
        out, past = _step(model, input_ids, output_hidden_states=True)
        context = out.hidden_states[-1][0]  # (length, hidden)
        logits = out.logits[:, -1, :]
        sequence = input_ids
        for produced in range(max_new_tokens):
            if should_stop():
                return "cancelled", produced
            if process_logits is not None:
                logits = process_logits(sequence, logits)
            probs, candidates = torch.softmax(logits, dim=-1).topk(top_k, dim=-1)  # (1, k)
            past.batch_repeat_interleave(top_k)
            step, past = _step(model, candidates.view(-1, 1), past, output_hidden_states=True)
            hidden = step.hidden_states[-1][:, -1, :]  # (k, hidden)
            similarity = torch.nn.functional.cosine_similarity(
                hidden.unsqueeze(1), context.unsqueeze(0), dim=-1
            )  # (k, length)
            scores = (1 - alpha) * probs[0] - alpha * similarity.max(dim=-1).values
            best = int(scores.argmax())
            past.batch_select_indices(torch.tensor([best], device=input_ids.device))
            token = int(candidates[0, best])
            if token in eos_ids:
                return "stop", produced
            context = torch.cat([context, hidden[best : best + 1]], dim=0)
            logits = step.logits[best : best + 1, -1, :]
            sequence = torch.cat([sequence, candidates[:, best : best + 1]], dim=-1)
            if on_token(token):
                return "stop", produced + 1
        return "length", max_new_tokens


def group_beam_search(
    model: Any,
    input_ids: Any,
    *,
    num_beams: int,
    num_groups: int,
    diversity_penalty: float,
    max_new_tokens: int,
    eos_ids: set[int],
    should_stop: Callable[[], bool],
    length_penalty: float = 1.0,
) -> tuple[str, list[int]]:
    """Beam search in groups; each group is penalized for tokens earlier groups just chose.

    Returns (finish_reason, tokens of the best hypothesis).
    """
    import torch

    size = num_beams // num_groups
    device = input_ids.device
    finished: list[tuple[float, list[int]]] = []
    with torch.no_grad():
        out, past = _step(model, input_ids.repeat(num_beams, 1))
        logits = out.logits[:, -1, :]
        vocab = logits.shape[-1]
        # Beams of a group start identical: only the first of each may expand at step one.
        scores = torch.full((num_beams,), -1e9, device=device)
        scores[::size] = 0.0
        beams: list[list[int]] = [[] for _ in range(num_beams)]
        finish = "length"
        for _ in range(max_new_tokens):
            if should_stop():
                return "cancelled", max(finished, default=(0.0, beams[0]))[1]
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            chosen = torch.zeros(vocab, device=device)
            tokens = torch.zeros(num_beams, dtype=torch.long, device=device)
            sources = torch.zeros(num_beams, dtype=torch.long, device=device)
            new_scores = torch.zeros(num_beams, device=device)
            for group in range(num_groups):
                rows = list(range(group * size, (group + 1) * size))
                candidates = scores[rows, None] + logprobs[rows] - diversity_penalty * chosen
                top_scores, top_index = candidates.view(-1).topk(2 * size)
                slot = 0
                for score, index in zip(top_scores.tolist(), top_index.tolist(), strict=True):
                    source, token = rows[index // vocab], index % vocab
                    if token in eos_ids:
                        length = len(beams[source]) + 1
                        finished.append((score / length**length_penalty, beams[source]))
                        continue
                    target = rows[slot]
                    tokens[target], sources[target], new_scores[target] = token, source, score
                    slot += 1
                    if slot == size:
                        break
                chosen[tokens[rows]] += 1
            beams = [[*beams[int(s)], int(t)] for s, t in zip(sources, tokens, strict=True)]
            scores = new_scores
            if len(finished) >= num_beams and max(finished)[0] >= float(scores.max()):
                finish = "stop"
                break
            past.reorder_cache(sources)
            step, past = _step(model, tokens.view(-1, 1), past)
            logits = step.logits[:, -1, :]
        running = [
            (float(s) / max(len(b), 1) ** length_penalty, b)
            for s, b in zip(scores, beams, strict=True)
        ]
        best_finished = max(finished, default=None)
        best_running = max(running)
        if best_finished is not None and best_finished[0] >= best_running[0]:
            return "stop", best_finished[1]
        return finish, best_running[1]
