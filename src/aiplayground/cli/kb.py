"""`aiplayground kb ...`: knowledge bases from the shell (create, add, query, eval, compare,
delete, and `kb questions add|list|rm` for saved evaluation questions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aiplayground.cli.common import (
    DEFAULT_URL,
    JsonOption,
    TokenOption,
    UrlOption,
    connect,
    print_json,
    reporting_errors,
    table,
)

kb_app = typer.Typer(help="Knowledge bases for retrieval-augmented chat.", no_args_is_help=True)

BASE_COLUMNS = ["name", "status", "progress", "chunks", "visibility", "owner", "title"]
DOCUMENT_COLUMNS = ["id", "name", "status", "pages", "chunks", "error"]
QUESTION_COLUMNS = ["id", "question", "relevant"]

questions_app = typer.Typer(
    help="Saved evaluation questions of a base (for `kb eval` and comparing settings).",
    no_args_is_help=True,
)
kb_app.add_typer(questions_app, name="questions")


@kb_app.command("create")
def kb_create(
    name: str,
    title: Annotated[str, typer.Option(help="Title.")] = "",
    description: Annotated[str, typer.Option(help="Description.")] = "",
    public: Annotated[bool, typer.Option("--public", help="Readable by every user.")] = False,
    embedding_model: Annotated[
        str | None,
        typer.Option(help="all-minilm-l6-v2, multilingual-e5-small, or a remote model's name."),
    ] = None,
    embedding_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server for embeddings (https://h/v1).")
    ] = None,
    embedding_api_key: Annotated[
        str | None, typer.Option(envvar="AIP_EMBEDDING_API_KEY", help="Its API key.")
    ] = None,
    chunk_tokens: Annotated[int | None, typer.Option(help="Chunk size in tokens.")] = None,
    overlap_tokens: Annotated[int | None, typer.Option(help="Chunk overlap in tokens.")] = None,
    parent_tokens: Annotated[
        int | None, typer.Option(help="Parent-document retrieval: parent size in tokens.")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="Retrieval: dense or hybrid.")] = None,
    top_k: Annotated[int | None, typer.Option(help="Passages returned by default.")] = None,
    mmr: Annotated[bool, typer.Option("--mmr", help="Diversify results (MMR).")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a knowledge base."""
    fields: dict[str, Any] = {"title": title, "description": description}
    fields["visibility"] = "public" if public else "private"
    embedding = {"model": embedding_model, "url": embedding_url, "api_key": embedding_api_key}
    chunking = {
        "chunk_tokens": chunk_tokens,
        "overlap_tokens": overlap_tokens,
        "parent_tokens": parent_tokens,
    }
    retrieval = {"mode": mode, "top_k": top_k, "mmr": mmr or None}
    for section, values in (("embedding", embedding), ("chunking", chunking)):
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            fields[section] = given
    given_retrieval = {k: v for k, v in retrieval.items() if v is not None}
    if given_retrieval:
        fields["retrieval"] = given_retrieval
    with reporting_errors(), connect(url, token) as client:
        info = client.create_knowledge_base(name, **fields)
    if as_json:
        print_json(info)
    else:
        typer.echo(f"created knowledge base {name}")


@kb_app.command("list")
def kb_list(
    q: Annotated[str | None, typer.Option(help="Search name and description.")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the knowledge bases you can read."""
    with reporting_errors(), connect(url, token) as client:
        page = client.list_knowledge_bases(q=q)
    if as_json:
        print_json(page)
    else:
        table(page["items"], BASE_COLUMNS)


@kb_app.command("add")
def kb_add(
    name: str,
    files: Annotated[list[Path], typer.Argument(help="Files to add.", exists=True)],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for ingestion.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 3600.0,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add files (PDF, Markdown, text, HTML, DOCX, CSV); ingestion runs on the server."""
    with reporting_errors(), connect(url, token) as client:
        documents = client.add_documents(name, list(files))
        if wait:
            client.wait_for_knowledge_base(name, timeout=timeout)
            ids = {d["id"] for d in documents}
            listed = client.list_documents(name, limit=500)["items"]
            documents = [d for d in listed if d["id"] in ids] or documents
    if as_json:
        print_json(documents)
    else:
        table(documents, DOCUMENT_COLUMNS)
    if any(d["status"] == "failed" for d in documents):
        raise typer.Exit(1)


@kb_app.command("query")
def kb_query(
    name: str,
    query: str,
    top_k: Annotated[int | None, typer.Option(help="Passages to return.")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the passages that best match a query."""
    with reporting_errors(), connect(url, token) as client:
        answer = client.query_knowledge_base(name, query, top_k)
    if as_json:
        print_json(answer)
        return
    for rank, result in enumerate(answer["results"], 1):
        page = f" p.{result['page']}" if result.get("page") else ""
        typer.echo(f"[{rank}] {result['document_name']}{page}  score {result['score']:.4f}")
        typer.echo("    " + result["text"][:500].replace("\n", "\n    "))


@kb_app.command("eval")
def kb_eval(
    name: str,
    questions: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            exists=True,
            help='JSONL: {"question": ..., "relevant": [document ids or file names]}. '
            "Absent: the base's saved questions.",
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Cut-off of recall@k.")] = 5,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score retrieval on questions: recall@k and mean reciprocal rank."""
    with reporting_errors(), connect(url, token) as client:
        result = client.evaluate_knowledge_base(name, questions, k)
    if as_json:
        print_json(result)
    else:
        typer.echo(
            f"{result['questions']} questions  recall@{result['k']} {result['recall_at_k']:.4f}"
            f"  MRR {result['mrr']:.4f}  (config version {result['config_version']})"
        )


@kb_app.command("compare")
def kb_compare(
    name: str,
    config: Annotated[
        list[str],
        typer.Option(
            "--config",
            help="One configuration as comma-separated key=value pairs: k (recall cut-off) "
            "and retrieval settings (mode, mmr, mmr_lambda, score_threshold, fetch_k, "
            "lexical_weight), e.g. 'mode=hybrid,k=5'. Repeat for each (up to 8).",
        ),
    ],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score retrieval configurations side by side on the base's saved questions."""
    configurations = [_configuration(text) for text in config]
    with reporting_errors(), connect(url, token) as client:
        results = client.compare_retrieval(name, configurations)
    if as_json:
        print_json(results)
        return
    best = max(range(len(results)), key=lambda i: (results[i]["recall_at_k"], results[i]["mrr"]))
    rows = [
        {
            "configuration": text,
            "questions": r["questions"],
            "recall@k": f"{r['recall_at_k']:.4f}",
            "mrr": f"{r['mrr']:.4f}",
            "best": "*" if i == best else "",
        }
        for i, (text, r) in enumerate(zip(config, results, strict=True))
    ]
    table(rows, ["configuration", "questions", "recall@k", "mrr", "best"])


def _configuration(text: str) -> dict[str, Any]:
    """'mode=hybrid,k=5' -> {"k": "5", "retrieval": {"mode": "hybrid"}} (the server types it)."""
    k: str | None = None
    retrieval: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            typer.echo(f"--config {text!r}: {pair!r} is not key=value", err=True)
            raise typer.Exit(2)
        if key.strip() == "k":
            k = value.strip()
        else:
            retrieval[key.strip()] = value.strip()
    return {"retrieval": retrieval} | ({"k": k} if k is not None else {})


@kb_app.command("delete")
def kb_delete(
    name: str,
    document: Annotated[
        str | None, typer.Option(help="Delete only this document (id) of the base.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Delete a knowledge base, or one of its documents."""
    with reporting_errors(), connect(url, token) as client:
        if document:
            client.delete_document(name, document)
        else:
            client.delete_knowledge_base(name)
    typer.echo(f"deleted {name}" + (f" document {document}" if document else ""))


@questions_app.command("add")
def questions_add(
    name: str,
    question: Annotated[str | None, typer.Option(help="The question's text.")] = None,
    relevant: Annotated[
        list[str] | None,
        typer.Option(help="A document (id or file name) that answers it; repeat for more."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(exists=True, help="Import a JSONL file, as for `kb eval --questions`."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Save a question (--question and --relevant), or import a JSONL file (--file)."""
    if (question is None) == (file is None):
        typer.echo("give either --question (with --relevant) or --file", err=True)
        raise typer.Exit(2)
    if question is not None and not relevant:
        typer.echo("--question needs at least one --relevant document", err=True)
        raise typer.Exit(2)
    items: Path | list[dict[str, Any]] = (
        file if file is not None else [{"question": question, "relevant": relevant}]
    )
    with reporting_errors(), connect(url, token) as client:
        added = client.add_knowledge_questions(name, items)
    if as_json:
        print_json(added)
    else:
        typer.echo(f"saved {len(added)} question{'' if len(added) == 1 else 's'} with {name}")


@questions_app.command("list")
def questions_list(
    name: str,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a base's saved questions."""
    with reporting_errors(), connect(url, token) as client:
        items = client.list_knowledge_questions(name)
    if as_json:
        print_json(items)
    else:
        table([{**q, "relevant": ", ".join(q["relevant"])} for q in items], QUESTION_COLUMNS)


@questions_app.command("rm")
def questions_rm(
    name: str,
    question_id: str,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Delete a saved question (its id, from `kb questions list`)."""
    with reporting_errors(), connect(url, token) as client:
        client.delete_knowledge_question(name, question_id)
    typer.echo(f"deleted question {question_id} of {name}")
