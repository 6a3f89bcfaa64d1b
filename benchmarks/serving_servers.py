"""The servers `serving.py` compares, each started as its own process.

    python benchmarks/serving_servers.py platform --home DIR --port N
    python benchmarks/serving_servers.py thin --model FILE --port N
    PEERS_PYTHON benchmarks/serving_servers.py kserve --model FILE --port N --name NAME

The thin reference is what a careful engineer writes in an afternoon: FastAPI + uvicorn
(uvloop, httptools) + orjson, decoding v2 tensors straight into numpy and calling
`predict` in process. KServe runs its own `ModelServer` with a `kserve.Model`.
"""

import argparse
import sys
from pathlib import Path
from typing import Any


def _load_skops(path: str) -> Any:
    import skops.io

    return skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))


def _inference_wired(platform: Any, app: Any) -> Any:
    """The platform's inference service and routes; added here if the app lacks them."""
    from aiplayground.api.routes import inference
    from aiplayground.inference.config import InferenceSettings
    from aiplayground.inference.service import InferenceService

    service = getattr(platform, "inference", None)
    if service is None:
        settings = platform.settings
        service = InferenceService(
            platform.models,
            platform.storage,
            getattr(settings, "inference", None) or InferenceSettings(),
            cache_dir=settings.resolved_home / "cache" / "models",
            endpoints=platform.endpoints,
            remote_timeout_s=settings.network.timeout_s,
        )
        platform.inference = service
    if not any(getattr(r, "original_router", None) is inference.router for r in app.routes):
        app.include_router(inference.router)
        app.router.routes.insert(0, app.router.routes.pop())
    return service


def run_platform(home: str, port: int) -> None:
    """The platform itself, configured as `aiplayground serve` runs it."""
    import uvicorn
    import uvloop

    from aiplayground.app import build_platform, create_app
    from aiplayground.settings import Settings

    settings = Settings(home=Path(home), demo=False, server={"ui": False, "port": port})
    platform = build_platform(settings)
    app = create_app(settings, platform)
    service = _inference_wired(platform, app)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        # Idempotent if the app's lifespan already starts and stops the service.
        await service.start()
        try:
            await server.serve()
        finally:
            await service.stop()

    uvloop.run(serve())


def run_thin(model_path: str, port: int) -> None:
    """Bare FastAPI calling predict in process: the reference the platform must come close to."""
    import numpy as np
    import orjson
    import uvicorn
    from fastapi import FastAPI, Request, Response

    model = _load_skops(model_path)
    app = FastAPI()
    dtypes = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        body = orjson.loads(await request.body())
        inp = body["inputs"][0]
        x = np.asarray(inp["data"], dtype=dtypes[inp["datatype"]]).reshape(inp["shape"])
        y = model.predict(x)
        out = {
            "model_name": name,
            "outputs": [{"name": "predict", "datatype": "INT64", "shape": [len(y)], "data": y}],
        }
        return Response(
            orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
        )

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request) -> Response:
        body = orjson.loads(await request.body())
        y = model.predict(np.asarray(body["instances"], dtype=np.float64))
        return Response(
            orjson.dumps({"predictions": y}, option=orjson.OPT_SERIALIZE_NUMPY),
            media_type="application/json",
        )

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )


def run_kserve(model_path: str, port: int, name: str) -> None:
    """KServe's Python ModelServer with a custom kserve.Model (in KServe's own venv)."""
    import logging
    import uuid

    # KServe reads its options from the command line when imported: no log line per request.
    sys.argv = [sys.argv[0], "--enable_latency_logging", "false", "--configure_logging", "false"]
    import kserve
    import numpy as np
    import orjson
    from kserve import InferOutput, InferRequest, InferResponse

    class SkopsModel(kserve.Model):  # type: ignore[misc]
        def load(self) -> bool:
            self.model = _load_skops(model_path)
            self.ready = True
            return True

        def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
            if isinstance(payload, InferRequest):
                x = payload.inputs[0].as_numpy()
                y = np.asarray(self.model.predict(x), dtype=np.int64)
                out = InferOutput(name="predict", shape=list(y.shape), datatype="INT64")
                out.set_data_from_numpy(y, binary_data=False)
                response_id = payload.id or str(uuid.uuid4())
                return InferResponse(
                    model_name=self.name, infer_outputs=[out], response_id=response_id
                )
            if isinstance(payload, (bytes, bytearray)):
                payload = orjson.loads(payload)
            y = self.model.predict(np.asarray(payload["instances"], dtype=np.float64))
            return {"predictions": y.tolist()}

    model = SkopsModel(name)
    model.load()
    # Like the others: no access or latency log lines on the hot path.
    logging.getLogger("uvicorn.access").disabled = True
    server = kserve.ModelServer(
        http_port=port,
        grpc_port=port + 1,
        workers=1,
        enable_grpc=False,
        enable_latency_logging=False,
    )
    server.start([model])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["platform", "thin", "kserve"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--home")
    parser.add_argument("--model")
    parser.add_argument("--name", default="model")
    args = parser.parse_args()
    if args.which == "platform":
        run_platform(args.home, args.port)
    elif args.which == "thin":
        run_thin(args.model, args.port)
    else:
        run_kserve(args.model, args.port, args.name)


if __name__ == "__main__":
    main()
