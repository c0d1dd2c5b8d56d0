"""GoBGP's gRPC API without generated stubs: the message types come from gobgpd itself.

Go programs built with protobuf embed each ``.proto`` file's descriptor, serialized, in the
binary. We read ``gobgp.proto`` and ``attribute.proto`` out of the installed ``gobgpd``, so the
messages match its exact version (3.10 on Debian 12) and nothing of GoBGP's is copied here;
protobuf builds the classes, grpcio carries them. This is how kube-router feeds GoBGP: a stream
of ``AddPathStream`` requests, many paths per request.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    empty_pb2,
    message_factory,
    timestamp_pb2,
)

PATHS_PER_REQUEST = 1000
_FILES = ("gobgp.proto", "attribute.proto")
# The well-known types the files import; importing them registers them in the default pool.
_WELL_KNOWN = (any_pb2, empty_pb2, timestamp_pb2)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _descriptor_length(data: bytes, start: int) -> int:
    """Length of the serialized FileDescriptorProto at ``start``: its fields run until a tag
    that no FileDescriptorProto has (or a second ``name``: the next file's descriptor)."""
    pos = start
    seen_name = False
    while pos < len(data):
        try:
            tag, body = _varint(data, pos)
        except IndexError:
            break
        field, wire = tag >> 3, tag & 7
        if not 1 <= field <= 14 or wire not in (0, 2) or (field == 1 and seen_name):
            break
        seen_name = seen_name or field == 1
        if wire == 0:
            _, pos = _varint(data, body)
        else:
            size, body = _varint(data, body)
            pos = body + size
    return pos - start


def load_descriptors(binary: Path) -> descriptor_pool.DescriptorPool:
    data = binary.read_bytes()
    pool = descriptor_pool.Default()
    for name in _FILES:
        marker = b"\n" + bytes([len(name)]) + name.encode() + b"\x12"
        start = data.find(marker)
        if start < 0:
            raise RuntimeError(f"{binary} holds no descriptor of {name}")
        proto = descriptor_pb2.FileDescriptorProto.FromString(
            data[start : start + _descriptor_length(data, start)]
        )
        try:
            pool.Add(proto)
        except TypeError:  # already added by an earlier call in this process
            pass
    return pool


class GoBgpClient:
    """``AddPathStream`` of IPv4 unicast /32s with next hop ``next_hop``, on gobgpd's gRPC port."""

    def __init__(self, target: str, binary: Path | None = None) -> None:
        import grpc

        found = binary or Path(shutil.which("gobgpd") or "/usr/bin/gobgpd")
        pool = load_descriptors(found)
        self._msg = {
            name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"apipb.{name}"))
            for name in (
                "AddPathStreamRequest", "Path", "Family", "IPAddressPrefix",
                "OriginAttribute", "NextHopAttribute", "AsPathAttribute",
            )
        }  # fmt: skip
        self._channel = grpc.insecure_channel(target)
        self._add_stream = self._channel.stream_unary(
            "/apipb.GobgpApi/AddPathStream",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=empty_pb2.Empty.FromString,
        )

    def _any(self, name: str, **fields: Any) -> Any:
        packed = any_pb2.Any()
        packed.Pack(self._msg[name](**fields))
        return packed

    def _requests(self, prefixes: list[str], next_hop: str) -> Iterator[Any]:
        family = self._msg["Family"](afi=1, safi=1)  # AFI_IP, SAFI_UNICAST
        attrs = [
            self._any("OriginAttribute", origin=0),  # IGP
            self._any("NextHopAttribute", next_hop=next_hop),
            self._any("AsPathAttribute"),
        ]
        for i in range(0, len(prefixes), PATHS_PER_REQUEST):
            paths = []
            for prefix in prefixes[i : i + PATHS_PER_REQUEST]:
                addr, length = prefix.split("/")
                nlri = self._any("IPAddressPrefix", prefix=addr, prefix_len=int(length))
                paths.append(self._msg["Path"](nlri=nlri, pattrs=attrs, family=family))
            yield self._msg["AddPathStreamRequest"](table_type=0, paths=paths)  # GLOBAL

    def add_paths(self, prefixes: list[str], next_hop: str, timeout: float = 300) -> None:
        self.send(self.prepare(prefixes, next_hop), timeout)

    def prepare(self, prefixes: list[str], next_hop: str) -> list[Any]:
        """The requests, built ahead so a timed ``send`` measures GoBGP, not protobuf."""
        import grpc

        grpc.channel_ready_future(self._channel).result(timeout=30)
        return list(self._requests(prefixes, next_hop))

    def send(self, requests: list[Any], timeout: float = 300) -> None:
        self._add_stream(iter(requests), timeout=timeout)

    def close(self) -> None:
        self._channel.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.gobgp_api TARGET NEXT_HOP FILE``: inject the file's prefixes (one per
    line). Run inside the speaker's namespace, where gobgpd's API listens on loopback. Prints
    ``ready`` once connected with every request built, and sends on a line from stdin."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.gobgp_api", description=main.__doc__)
    parser.add_argument("target")
    parser.add_argument("next_hop")
    parser.add_argument("prefixes", type=Path)
    args = parser.parse_args(argv)
    client = GoBgpClient(args.target)
    try:
        requests = client.prepare(args.prefixes.read_text().split(), args.next_hop)
        print("ready", flush=True)
        sys.stdin.readline()
        client.send(requests)
    finally:
        client.close()


if __name__ == "__main__":
    main()
