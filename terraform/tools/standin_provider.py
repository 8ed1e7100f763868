#!/usr/bin/env python3
"""A stand-in Terraform provider plugin that serves a real provider's schema, for offline plans.

Terraform starts it as `terraform-provider-<name>_v<version>` from a filesystem mirror (see
tfgate.py). It speaks the go-plugin handshake and the tfplugin6 gRPC protocol (stubs from the PyPI
package `tf`) and answers the way a provider answers a plan with no prior state:

* GetProviderSchema: the compiled schema (`--schema-pb`, a serialized GetProviderSchema.Response
  that tfgate.py builds from tests/terraform/schemas/<provider>-<major>.json.gz);
* Validate*, ConfigureProvider: no diagnostics (provider-side validation cannot run here);
* PlanResourceChange: the proposed new state with every computed attribute the configuration
  leaves null marked unknown (what the plugin SDKs do on create);
* with EVENTSUITE_STANDIN_RESOLVE_COMPUTED=1 (a "resolved" plan, for reading the wiring only):
  those computed attributes get placeholders unique to the resource instead ("mock-arn-<hash>"),
  as if applied, so the plan shows which queue a mapping reads or which topic receives dead letters;
* ReadDataSource: the configuration plus a placeholder for every computed attribute it leaves null
  (what `terraform test`'s mock_provider does): strings "mock-<name>", numbers 0, bools false,
  empty collections;
* ApplyResourceChange and ImportResourceState: refused with an error. This plugin never touches a
  cloud.

Usage (by Terraform): standin_provider.py --schema-json FILE --schema-pb FILE --tls-dir DIR
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import os
import sys
import tempfile
from concurrent import futures
from pathlib import Path
from typing import Any

# grpc, msgpack and the `tf` stubs live in .venv-tfgate (terraform/tools/requirements-tfgate.txt);
# the value logic below imports none of them, so the app's test venv can unit-test it.


class _Unknown:
    """A value known only after apply (msgpack extension 0 on the wire)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
# Set by tfgate.py for a "resolved" plan: computed attributes get per-resource placeholders
# instead of unknown (like values after an apply). Only for reading wiring; never the gate.
RESOLVE_ENV = "EVENTSUITE_STANDIN_RESOLVE_COMPUTED"
# get_provider_schema_optional: Terraform may reuse the schema it already holds for this provider
# instead of asking every plugin instance again (it starts ~3 per plan).
def _capabilities() -> Any:
    from tf.gen import tfplugin_pb2 as pb

    return pb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=True)

_NESTING = {"single": "SINGLE", "list": "LIST", "set": "SET", "map": "MAP", "group": "GROUP"}


# -- schema compilation (used by tfgate.py when it builds the mirror) --------------------------
def load_schema_json(path: Path) -> tuple[str, dict[str, Any]]:
    """(source address, provider schema) from one of our files or a raw `providers schema -json`."""
    raw = path.read_bytes()
    doc = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    ((address, schema),) = doc["provider_schemas"].items()
    return address, schema


def _attribute(name: str, a: dict[str, Any]) -> Any:
    from tf.gen import tfplugin_pb2 as pb

    out = pb.Schema.Attribute(
        name=name,
        required=bool(a.get("required")),
        optional=bool(a.get("optional")),
        computed=bool(a.get("computed")),
        sensitive=bool(a.get("sensitive")),
        deprecated=bool(a.get("deprecated")),
    )
    if "nested_type" in a:
        nt = a["nested_type"]
        out.nested_type.CopyFrom(
            pb.Schema.Object(
                attributes=[_attribute(n, x) for n, x in sorted(nt["attributes"].items())],
                nesting=pb.Schema.Object.NestingMode.Value(_NESTING[nt["nesting_mode"]]),
            )
        )
    else:
        out.type = json.dumps(a["type"]).encode()
    if a.get("write_only"):
        # tfplugin6 Schema.Attribute.write_only is field 11, newer than the `tf` package's stubs:
        # appended as a raw varint field (tag 11 << 3 | 0 = 0x58), which protobuf keeps as is.
        out.MergeFromString(b"\x58\x01")
    return out


def _block(b: dict[str, Any]) -> Any:
    from tf.gen import tfplugin_pb2 as pb

    return pb.Schema.Block(
        attributes=[_attribute(n, a) for n, a in sorted(b.get("attributes", {}).items())],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=n,
                block=_block(nb["block"]),
                nesting=pb.Schema.NestedBlock.NestingMode.Value(_NESTING[nb["nesting_mode"]]),
                min_items=nb.get("min_items", 0),
                max_items=nb.get("max_items", 0),
            )
            for n, nb in sorted(b.get("block_types", {}).items())
        ],
    )


def compile_schema(schema: dict[str, Any]) -> bytes:
    """A serialized GetProviderSchema.Response for one provider's `providers schema -json` entry."""
    from tf.gen import tfplugin_pb2 as pb

    resp = pb.GetProviderSchema.Response(
        provider=pb.Schema(block=_block(schema["provider"]["block"])),
        server_capabilities=_capabilities(),
    )
    for kind, field in (("resource_schemas", resp.resource_schemas), ("data_source_schemas", resp.data_source_schemas)):
        for name, s in sorted(schema.get(kind, {}).items()):
            field[name].CopyFrom(pb.Schema(version=s.get("version", 0), block=_block(s["block"])))
    return resp.SerializeToString(deterministic=True)


# -- values -------------------------------------------------------------------------------------
def _ext_hook(code: int, data: bytes) -> Any:
    import msgpack

    return UNKNOWN if code == 0 else msgpack.ExtType(code, data)  # 12: unknown with refinements


def _ext_default(obj: Any) -> Any:
    import msgpack

    if obj is UNKNOWN:
        return msgpack.ExtType(0, b"\x00")
    raise TypeError(f"cannot encode {obj!r}")


def _decode(dv: Any) -> Any:
    import msgpack

    if dv.msgpack:
        return msgpack.unpackb(dv.msgpack, raw=False, strict_map_key=False, ext_hook=_ext_hook)
    if dv.json:
        return json.loads(dv.json)
    return None


def _encode(value: Any) -> Any:
    import msgpack
    from tf.gen import tfplugin_pb2 as pb

    return pb.DynamicValue(msgpack=msgpack.packb(value, use_bin_type=True, default=_ext_default))


def _placeholder(typ: Any, name: str) -> Any:
    if typ == "string":
        return f"mock-{name}"
    if typ == "number":
        return 0
    if typ == "bool":
        return False
    if typ == "dynamic":
        return [json.dumps("string").encode(), f"mock-{name}"]
    kind = typ[0]
    if kind in ("list", "set", "tuple"):
        return []
    if kind == "map":
        return {}
    if kind == "object":
        return {k: _placeholder(t, k) for k, t in typ[1].items()}
    return None


def _nested_type_to_type(nt: dict[str, Any]) -> Any:
    obj = ["object", {n: a.get("type") or _nested_type_to_type(a["nested_type"]) for n, a in nt["attributes"].items()}]
    mode = nt["nesting_mode"]
    return obj if mode == "single" else [mode, obj]


def fill_computed(block: dict[str, Any], value: Any, fill: Any) -> Any:
    """Replace null computed attributes (at every nesting level) by `fill(attr_schema, name)`."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for name, a in block.get("attributes", {}).items():
        v = out.get(name)
        if v is None and a.get("computed"):
            out[name] = fill(a, name)
        elif v is not None and "nested_type" in a:
            out[name] = _each(v, a["nested_type"]["nesting_mode"], a["nested_type"], fill)
    for name, nb in block.get("block_types", {}).items():
        v = out.get(name)
        if v is not None:
            out[name] = _each(v, nb["nesting_mode"], nb["block"], fill)
    return out


def _each(v: Any, mode: str, block: dict[str, Any], fill: Any) -> Any:
    if not isinstance(v, (dict, list)):  # unknown (or refined unknown): left as it is
        return v
    if mode in ("single", "group"):
        return fill_computed(block, v, fill)
    if mode == "map" and isinstance(v, dict):
        return {k: fill_computed(block, x, fill) for k, x in v.items()}
    if isinstance(v, list):
        return [fill_computed(block, x, fill) for x in v]
    return v


def _unknown(_a: dict[str, Any], _name: str) -> Any:
    return UNKNOWN


def _mock(a: dict[str, Any], name: str) -> Any:
    return _placeholder(a.get("type") or _nested_type_to_type(a["nested_type"]), name)


def _resolver(type_name: str, config: Any) -> Any:
    """Placeholders unique to one resource, standing in for the values an apply would return, so
    that a plan can show which resource another one points at (RESOLVE_ENV mode only)."""
    import msgpack

    digest = hashlib.sha256(
        type_name.encode() + msgpack.packb(config, use_bin_type=True, default=_ext_default)
    ).hexdigest()[:12]

    def fill(a: dict[str, Any], name: str) -> Any:
        value = _mock(a, name)
        return f"{value}-{digest}" if isinstance(value, str) else value

    return fill


def _error(summary: str, detail: str = "") -> Any:
    from tf.gen import tfplugin_pb2 as pb

    return pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary, detail=detail)


# -- the gRPC servicer --------------------------------------------------------------------------
def _servicer_class() -> Any:
    from tf.gen import tfplugin_pb2 as pb
    from tf.gen import tfplugin_pb2_grpc as rpc

    class StandInProvider(rpc.ProviderServicer):  # type: ignore[misc]
        def __init__(self, schema_json: Path, schema_pb: Path, stop: Any) -> None:
            self._schema_json = schema_json
            self._schema_pb = schema_pb
            self._json: dict[str, Any] | None = None
            self._pb: pb.GetProviderSchema.Response | None = None
            self._stop = stop

        def _schema(self) -> dict[str, Any]:
            if self._json is None:
                self._json = load_schema_json(self._schema_json)[1]
            return self._json

        def GetMetadata(self, request: Any, context: Any) -> Any:
            return pb.GetMetadata.Response(server_capabilities=_capabilities())

        def GetProviderSchema(self, request: Any, context: Any) -> Any:
            if self._pb is None:
                self._pb = pb.GetProviderSchema.Response.FromString(self._schema_pb.read_bytes())
            return self._pb

        def ValidateProviderConfig(self, request: Any, context: Any) -> Any:
            return pb.ValidateProviderConfig.Response()

        def ValidateResourceConfig(self, request: Any, context: Any) -> Any:
            return pb.ValidateResourceConfig.Response()

        def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:
            return pb.ValidateDataResourceConfig.Response()

        def ConfigureProvider(self, request: Any, context: Any) -> Any:
            return pb.ConfigureProvider.Response()

        def UpgradeResourceState(self, request: Any, context: Any) -> Any:
            state = json.loads(request.raw_state.json) if request.raw_state.json else None
            return pb.UpgradeResourceState.Response(upgraded_state=_encode(state))

        def ReadResource(self, request: Any, context: Any) -> Any:
            return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

        def PlanResourceChange(self, request: Any, context: Any) -> Any:
            proposed = _decode(request.proposed_new_state)
            if proposed is None:  # destroy
                return pb.PlanResourceChange.Response(planned_state=request.proposed_new_state)
            block = self._schema()["resource_schemas"][request.type_name]["block"]
            prior = _decode(request.prior_state)
            if prior is not None:
                planned = proposed
            elif os.environ.get(RESOLVE_ENV) == "1":
                planned = fill_computed(block, proposed, _resolver(request.type_name, proposed))
            else:
                planned = fill_computed(block, proposed, _unknown)
            return pb.PlanResourceChange.Response(planned_state=_encode(planned))

        def ApplyResourceChange(self, request: Any, context: Any) -> Any:
            return pb.ApplyResourceChange.Response(
                diagnostics=[_error("Stand-in provider: apply refused", "This plugin only serves schemas for offline plans.")]
            )

        def ImportResourceState(self, request: Any, context: Any) -> Any:
            return pb.ImportResourceState.Response(diagnostics=[_error("Stand-in provider: import refused")])

        def ReadDataSource(self, request: Any, context: Any) -> Any:
            config = _decode(request.config)
            block = self._schema()["data_source_schemas"][request.type_name]["block"]
            return pb.ReadDataSource.Response(state=_encode(fill_computed(block, config, _mock)))

        def GetFunctions(self, request: Any, context: Any) -> Any:
            return pb.GetFunctions.Response()

        def StopProvider(self, request: Any, context: Any) -> Any:
            self._stop()
            return pb.StopProvider.Response()

    return StandInProvider


def serve(schema_json: Path, schema_pb: Path, tls_dir: Path) -> None:
    """go-plugin handshake on a unix socket with the TLS certificate tfgate.py made."""
    import grpc
    from tf.gen import grpc_controller_pb2 as controller_pb
    from tf.gen import grpc_controller_pb2_grpc as controller_rpc
    from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc
    from tf.gen import tfplugin_pb2_grpc as rpc

    stopped = {"flag": False}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = _servicer_class()(schema_json, schema_pb, lambda: stopped.update(flag=True))
    rpc.add_ProviderServicer_to_server(servicer, server)

    class Controller(controller_rpc.GRPCControllerServicer):
        def Shutdown(self, request: Any, context: Any) -> Any:
            stopped["flag"] = True
            return controller_pb.Empty()

    class Stdio(stdio_rpc.GRPCStdioServicer):
        def StreamStdio(self, request: Any, context: Any) -> Any:
            return iter(())

    controller_rpc.add_GRPCControllerServicer_to_server(Controller(), server)
    stdio_rpc.add_GRPCStdioServicer_to_server(Stdio(), server)
    key, cert = (tls_dir / "key.pem").read_bytes(), (tls_dir / "cert.pem").read_bytes()
    der = (tls_dir / "cert.der").read_bytes()
    with tempfile.TemporaryDirectory(prefix="tfgate-") as tmp:
        sock = f"{tmp}/plugin.sock"
        server.add_secure_port(f"unix://{sock}", grpc.ssl_server_credentials([(key, cert)]))
        server.start()
        sys.stdout.write(f"1|6|unix|{sock}|grpc|{base64.b64encode(der).decode().rstrip('=')}\n")
        sys.stdout.flush()
        while not stopped["flag"]:
            if not server.wait_for_termination(0.05):  # False: the server terminated
                break
        server.stop(grace=0.2)


def make_tls(tls_dir: Path) -> None:
    """A self-signed localhost certificate for the plugin's gRPC server (made once per cache)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    tls_dir.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tls_dir / "key.pem").write_bytes(key_pem)
    os.chmod(tls_dir / "key.pem", 0o600)
    (tls_dir / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tls_dir / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schema-json", type=Path, required=True)
    ap.add_argument("--schema-pb", type=Path, required=True)
    ap.add_argument("--tls-dir", type=Path, required=True)
    ap.add_argument("--prepare", action="store_true",
                    help="(tfgate.py) compile --schema-json into --schema-pb, make the TLS files if absent")
    args = ap.parse_args(argv)
    if args.prepare:
        args.schema_pb.parent.mkdir(parents=True, exist_ok=True)
        args.schema_pb.write_bytes(compile_schema(load_schema_json(args.schema_json)[1]))
        if not (args.tls_dir / "cert.der").is_file():
            make_tls(args.tls_dir)
        return 0
    if os.environ.get("TF_PLUGIN_MAGIC_COOKIE") is None:
        print("This is a Terraform provider plugin; Terraform starts it.", file=sys.stderr)
        return 1
    serve(args.schema_json, args.schema_pb, args.tls_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
