"""Opening a store from the command line: ``--path``/``--server``/``--namespace``, the pin, and ``--embedder``.

Commands that only read stored vectors (show, export, stats, forget, users) open the store with an
:class:`~personal_core.embedding.UnavailableEmbedder` built from the store's pin, so they work on any store
without its embedding model and never embed. Commands that embed (context, search, import) need the real
embedder: the store's own when Personal can rebuild it (hashing, Chroma's default model on disk), else
``--embedder module:attr``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from ..chroma_client import CHROMA_DEFAULT_EMBEDDER, chroma_default_embedding_function, default_path, http_client
from ..embedding import (
    Embedder,
    HashingEmbedder,
    UnavailableEmbedder,
    from_chroma_embedding_function,
    resolve_embedder,
)
from ..errors import InvalidInputError, PersonalError, StoreError, StoreLockedError
from ..locks import holder_pid
from ..modeler import UserModeler
from ..store_guards import LOCK_FILE
from ..store_pin import read_pin

EMBEDDER_HELP = (
    "the store's embedder as module:attr: a factory (function or class, called without arguments) or an object; "
    "it may give a Personal Embedder, a Chroma embedding function, a LangChain Embeddings or a LlamaIndex "
    "embedding (the module is imported from the current directory too)"
)
EMBEDDER_HINT = "pass --embedder module:attr (a factory returning it; see `personal --help`)"

# Framework adapters, looked up by the class a given object derives from (imported only when one is given:
# personal_core itself never imports the frameworks).
_ADAPTERS = {
    "langchain_core.embeddings.embeddings.Embeddings": ("langchain_personal", "LangChainEmbedder"),
    "llama_index.core.base.embeddings.base.BaseEmbedding": ("llamaindex_personal", "as_embedder"),
}


class CLIError(PersonalError):
    """A command-line problem reported as one line (bad file, bad --server value, ...)."""


def http_client_for(server: str) -> Any:
    """A ``chromadb.HttpClient`` for ``HOST:PORT``."""
    host, sep, port_text = server.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise CLIError(f"--server must be HOST:PORT, got {server!r}")
    host = host.strip("[]")  # [::1]:8000
    try:
        return http_client(host, int(port_text))
    except Exception as exc:  # noqa: BLE001 - chromadb raises various errors when the server is unreachable
        raise StoreError(f"cannot reach the Chroma server at {server}: {exc}") from None


def adapt_embedder(obj: Any, spec: str = "--embedder") -> Embedder:
    """``obj`` as an :class:`Embedder`: itself, or adapted (LangChain, LlamaIndex, Chroma embedding function)."""
    if isinstance(obj, Embedder):
        return obj
    for cls in type(obj).__mro__:
        adapter = _ADAPTERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if adapter is not None:
            module, name = adapter
            try:
                adapt = getattr(importlib.import_module(module), name)
            except ImportError as exc:
                raise CLIError(f"{spec} gives a {type(obj).__name__}: adapting it needs {module} ({exc})") from None
            embedder: Embedder = adapt(obj)
            return embedder
    if callable(obj):
        return from_chroma_embedding_function(obj)
    raise CLIError(
        f"{spec} gives a {type(obj).__name__}, not an embedder (a Personal Embedder, a Chroma embedding function, "
        "a LangChain Embeddings or a LlamaIndex embedding)"
    )


def load_embedder(spec: str) -> Embedder:
    """The embedder named by ``--embedder module:attr`` (``attr`` may be dotted: ``module:Class.factory``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CLIError(f"--embedder must be module:attr (for example mypkg.embeddings:make_embedder), got {spec!r}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` would: modules beside the user's files
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is reported the same way
        raise CLIError(f"--embedder {spec}: cannot import {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CLIError(f"--embedder {spec}: {module_name!r} has no attribute {attr!r}") from None
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj) or isinstance(obj, partial):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 - the user's factory failed: say so in one line
            raise CLIError(f"--embedder {spec}: calling {attr}() failed: {type(exc).__name__}: {exc}") from None
    try:
        return adapt_embedder(obj, f"--embedder {spec}")
    except CLIError:
        raise
    except InvalidInputError as exc:
        raise CLIError(f"--embedder {spec}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - adapting probes the model once (its dimension): it may fail
        raise CLIError(f"--embedder {spec}: the embedder failed: {type(exc).__name__}: {exc}") from None


def _where(args: argparse.Namespace) -> str:
    if args.server:
        return f"in namespace {args.namespace!r} on the Chroma server {args.server}"
    return f"at {args.path or default_path()}" + (
        f" (namespace {args.namespace!r})" if args.namespace != "personal" else ""
    )


def _locked(args: argparse.Namespace) -> CLIError:
    path = Path(args.path) if args.path else default_path()
    pid = holder_pid(path / LOCK_FILE)
    return CLIError(
        f"the store at {path} is in use by another program (pid {pid}): an embedded store belongs to one process. "
        f"To use it from several, serve it (`chroma run --path {path} --host 127.0.0.1 --port 8000`) and pass "
        "--server 127.0.0.1:8000 instead of --path"
    )


def store_embedder(pin: dict[str, Any] | None, args: argparse.Namespace, needs_embedder: bool) -> Embedder | None:
    """The embedder to open the store with (None: let ``UserModeler`` pick the default for a new store)."""
    given = load_embedder(args.embedder) if args.embedder else None
    if pin is None or not pin.get("embedder"):
        return given  # --create: a new store takes --embedder, else the default
    name, dimension = str(pin["embedder"]), int(pin.get("dimension", 0))
    if given is not None:
        if given.name != name or given.dimension != dimension:
            raise CLIError(
                f"--embedder {args.embedder} is {given.name!r} (dimension {given.dimension}), but the store "
                f"{_where(args)} was created with {name!r} (dimension {dimension})"
            )
        return given
    if not needs_embedder:
        return UnavailableEmbedder(name, dimension, hint=f"`personal {args.command}` {EMBEDDER_HINT}")
    hashing = HashingEmbedder.from_name(name)
    if hashing is not None:
        return hashing
    if name == CHROMA_DEFAULT_EMBEDDER:
        ef = chroma_default_embedding_function()
        if ef is not None:
            return resolve_embedder(from_chroma_embedding_function(ef, name=CHROMA_DEFAULT_EMBEDDER))
    raise CLIError(f"`personal {args.command}` needs the store's embedder {name!r}: {EMBEDDER_HINT}")


@contextmanager
def open_modeler(args: argparse.Namespace, *, needs_embedder: bool = False) -> Iterator[UserModeler]:
    """The store of ``args`` opened as a ``UserModeler`` (closed on exit); refuses a missing store unless --create."""
    client = http_client_for(args.server) if args.server else None
    path = None if client is not None else args.path
    try:
        pin = read_pin(path, client=client, namespace=args.namespace)
    except StoreLockedError:
        raise _locked(args) from None
    if pin is None and not args.create:
        raise CLIError(f"no Personal store {_where(args)}; pass --create to make one there")
    embedder = store_embedder(pin, args, needs_embedder)
    try:
        modeler = UserModeler(path, client=client, embedder=embedder, namespace=args.namespace)
    except StoreLockedError:
        raise _locked(args) from None
    try:
        yield modeler
    finally:
        modeler.close()
