"""Run by the plan's Python with only the worker's code and the app zip on the path: index the
v2-model app the way the Functions Python worker does (``azure_functions_runtime.loader``:
``index_function_app`` imports ``function_app.py`` and finds the ``FunctionApp``;
``process_indexed_function`` registers each function and builds the metadata the worker sends
to the host). The host's gRPC message classes are not on PyPI, so ``protos`` is a stand-in
that records the fields the worker sets. Prints one JSON document on stdout."""

import json
import os
import sys
import types


class _Message:
    def __init__(self, **fields):
        self.__dict__.update(fields)


def _protos():
    protos = types.SimpleNamespace()

    class BindingInfo(_Message):
        in_, out, inout = 0, 1, 2
        undefined, string, binary, stream = 0, 1, 2, 3

    protos.BindingInfo = BindingInfo
    protos.RpcFunctionMetadata = type("RpcFunctionMetadata", (_Message,), {})
    protos.RpcRetryOptions = type("RpcRetryOptions", (_Message,), {})
    return protos


def main(app_dir):
    os.chdir(app_dir)
    sys.path.insert(0, app_dir)  # the worker puts the function app directory first
    from azure_functions_runtime import loader
    from azure_functions_runtime.bindings.meta import load_binding_registry
    from azure_functions_runtime.functions import Registry

    load_binding_registry()  # what the worker does on its init request

    indexed = loader.index_function_app(os.path.join(app_dir, "function_app.py"))
    metadata, _logs = loader.process_indexed_function(_protos(), Registry(), indexed, app_dir)
    functions = []
    for item in metadata:
        functions.append(
            {
                "name": item.name,
                "entry_point": item.entry_point,
                "script_file": item.script_file,
                "raw_bindings": [json.loads(b) for b in item.raw_bindings],
                "worker_indexed": item.properties,
            }
        )
    allowed = [os.path.realpath(p) for p in (app_dir, sys.base_prefix, *sys.argv[2:])]
    files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
    strays = sorted(
        path
        for path in (os.path.realpath(f) for f in files if f)
        if not any(path.startswith(root + os.sep) for root in allowed)
    )
    print(json.dumps({"functions": functions, "python": sys.version.split()[0], "strays": strays}))


if __name__ == "__main__":
    main(sys.argv[1])
