"""Knowledge bases REST: /api/v1/knowledge-bases, their documents, queries, evaluation and
saved evaluation questions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from aiplayground.api.deps import CurrentPrincipal
from aiplayground.api.uploads import multipart_openapi, staged_upload
from aiplayground.catalog.schemas import Page
from aiplayground.rag.embedding import EmbeddingModels
from aiplayground.rag.schemas import (
    CompareRequest,
    DocumentInfo,
    EvaluateRequest,
    EvaluationResult,
    KnowledgeBaseCreate,
    KnowledgeBaseInfo,
    KnowledgeBaseUpdate,
    QueryRequest,
    QueryResponse,
    QuestionsAdd,
    SavedQuestion,
)
from aiplayground.rag.service import KnowledgeBaseService

router = APIRouter(prefix="/api/v1", tags=["knowledge"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]
UPLOAD_BODY = multipart_openapi(metadata=False)


def knowledge_service(request: Request) -> KnowledgeBaseService:
    """The platform's knowledge-base service."""
    service: KnowledgeBaseService = request.app.state.platform.knowledge
    return service


@router.post("/knowledge-bases", status_code=201)
def create_knowledge_base(
    request: Request, principal: CurrentPrincipal, body: KnowledgeBaseCreate
) -> KnowledgeBaseInfo:
    """Create a knowledge base; add files with POST /knowledge-bases/{name}/documents."""
    return knowledge_service(request).create(principal, body)


@router.get("/knowledge-bases")
def list_knowledge_bases(
    request: Request,
    principal: CurrentPrincipal,
    q: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[KnowledgeBaseInfo]:
    """Knowledge bases the caller can read."""
    return knowledge_service(request).search(principal, q=q, limit=limit, offset=offset)


@router.get("/embedding-models")
def list_embedding_models(principal: CurrentPrincipal) -> dict[str, list[str]]:
    """The packaged embedding models (usable by bases and /openai/v1/embeddings)."""
    return {"items": EmbeddingModels.names()}


@router.get("/knowledge-bases/{name}")
def get_knowledge_base(
    request: Request, principal: CurrentPrincipal, name: str
) -> KnowledgeBaseInfo:
    """One knowledge base with its indexing progress."""
    return knowledge_service(request).get(principal, name)


@router.patch("/knowledge-bases/{name}")
def update_knowledge_base(
    request: Request, principal: CurrentPrincipal, name: str, body: KnowledgeBaseUpdate
) -> KnowledgeBaseInfo:
    """Change a base; a new embedding or chunking configuration re-indexes it."""
    return knowledge_service(request).update(principal, name, body)


@router.delete("/knowledge-bases/{name}", status_code=204)
def delete_knowledge_base(request: Request, principal: CurrentPrincipal, name: str) -> None:
    """Delete a base with its documents and index."""
    knowledge_service(request).delete(principal, name)


@router.post("/knowledge-bases/{name}/documents", status_code=202, openapi_extra=UPLOAD_BODY)
async def add_documents(
    request: Request, principal: CurrentPrincipal, name: str
) -> Page[DocumentInfo]:
    """Upload files (multipart `file` parts); they are ingested in the background."""
    service = knowledge_service(request)
    platform = request.app.state.platform
    principal.require_write()
    async with staged_upload(request, platform.staging, platform.settings.limits) as form:
        documents = await run_in_threadpool(
            service.add_documents, principal, name, form.files_named("file")
        )
    return Page(items=documents, total=len(documents))


@router.get("/knowledge-bases/{name}/documents")
def list_documents(
    request: Request,
    principal: CurrentPrincipal,
    name: str,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[DocumentInfo]:
    """The documents of a base and their ingestion state."""
    return knowledge_service(request).list_documents(principal, name, limit=limit, offset=offset)


@router.get("/knowledge-bases/{name}/documents/{document_id}")
def get_document(
    request: Request, principal: CurrentPrincipal, name: str, document_id: str
) -> DocumentInfo:
    """One document: status, error, progress, pages and chunks."""
    return knowledge_service(request).get_document(principal, name, document_id)


@router.get("/knowledge-bases/{name}/documents/{document_id}/content")
def download_document(
    request: Request, principal: CurrentPrincipal, name: str, document_id: str
) -> StreamingResponse:
    """The stored file, always as an attachment that the browser does not render."""
    stream, info = knowledge_service(request).open_document(principal, name, document_id)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(1024 * 1024):
                yield chunk

    filename = info.name.rsplit("/", 1)[-1]
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Content-Length": str(info.size),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.delete("/knowledge-bases/{name}/documents/{document_id}", status_code=204)
def delete_document(
    request: Request, principal: CurrentPrincipal, name: str, document_id: str
) -> Response:
    """Delete a document with its chunks and vectors."""
    knowledge_service(request).delete_document(principal, name, document_id)
    return Response(status_code=204)


@router.post("/knowledge-bases/{name}/query")
def query_knowledge_base(
    request: Request, principal: CurrentPrincipal, name: str, body: QueryRequest
) -> QueryResponse:
    """The passages that best match a query, with document, page and score."""
    return knowledge_service(request).query(
        principal, name, body.query, body.top_k, body.filters, retrieval=body.retrieval
    )


@router.post("/knowledge-bases/{name}/evaluate")
def evaluate_knowledge_base(
    request: Request, principal: CurrentPrincipal, name: str, body: EvaluateRequest
) -> EvaluationResult:
    """Recall@k and MRR on questions whose relevant documents (ids or names) are given
    (no `questions`: the base's saved ones)."""
    return knowledge_service(request).evaluate(
        principal, name, body.questions, body.k, retrieval=body.retrieval
    )


@router.get("/knowledge-bases/{name}/questions")
def list_questions(request: Request, principal: CurrentPrincipal, name: str) -> Page[SavedQuestion]:
    """The evaluation questions saved with a base."""
    return knowledge_service(request).list_questions(principal, name)


@router.post("/knowledge-bases/{name}/questions", status_code=201)
def add_questions(
    request: Request, principal: CurrentPrincipal, name: str, body: QuestionsAdd
) -> Page[SavedQuestion]:
    """Save evaluation questions (question text and relevant document ids or names)."""
    added = knowledge_service(request).add_questions(principal, name, body.questions)
    return Page(items=added, total=len(added))


@router.delete("/knowledge-bases/{name}/questions/{question_id}", status_code=204)
def delete_question(
    request: Request, principal: CurrentPrincipal, name: str, question_id: str
) -> Response:
    """Delete one saved question."""
    knowledge_service(request).delete_question(principal, name, question_id)
    return Response(status_code=204)


@router.post("/knowledge-bases/{name}/compare")
def compare_retrieval(
    request: Request, principal: CurrentPrincipal, name: str, body: CompareRequest
) -> Page[EvaluationResult]:
    """Recall@k and MRR of each retrieval configuration on the base's saved questions."""
    results = knowledge_service(request).compare(principal, name, body.configurations)
    return Page(items=results, total=len(results))
