"""Checks of user input shared by every resource: names, ASNs, addresses, labels.

Anything that can end up in an ExaBGP or router configuration line is checked
here against a strict pattern, so control characters, quotes and separators
never get that far.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from fabric.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62})$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,62})$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9._-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A BGP (TCP MD5) password both ExaBGP's and FRR's config parsers take as one word.
BGP_PASSWORD = re.compile(r"^[A-Za-z0-9!#$%&()*+,./:<=>?@\[\]^_{|}~-]{1,80}$")
ASN_MIN, ASN_MAX = 1, 4294967295
MAX_LABELS = 32
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_LENGTH = 256
MAX_HANDLE_LENGTH = 255


def validate_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"{kind} name {name!r} is not valid: use 1-63 lowercase letters, digits, "
            "'.', '-' or '_', starting with a letter or digit.",
            code="invalid_name",
        )
    return name


def validate_asn(asn: int) -> int:
    if not ASN_MIN <= asn <= ASN_MAX:
        raise InvalidInput(f"ASN {asn} is outside 1-4294967295.", code="invalid_asn", asn=asn)
    return asn


def parse_address(value: str, *, what: str = "address") -> IPAddress:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{what} {value!r} is not an IPv4 or IPv6 address.", code="invalid_address"
        ) from None


def parse_network(value: str, *, what: str = "CIDR") -> IPNetwork:
    """A network in CIDR form with no host bits set."""
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise InvalidInput(
                f"{what} {value!r} is not a valid IPv4 or IPv6 CIDR.", code="invalid_cidr"
            ) from None
        raise InvalidInput(
            f"{what} {value!r} has host bits set ({exc}).", code="host_bits_set"
        ) from None


def validate_labels(labels: dict[str, Any], *, what: str = "labels") -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"At most {MAX_LABELS} {what} are allowed.", code="invalid_labels")
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(value, str) or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise InvalidInput(
                f"{what} entry {key!r}={value!r} is not valid: keys are 1-63 of letters, digits, "
                "'.', '_', '-', '/'; values are up to 63 of letters, digits, '.', '_', '-'.",
                code="invalid_labels",
            )
        out[key] = value
    return out


def check_handle(handle: str) -> None:
    """An allocation's handle (the orchestrator's name for a workload's interface)."""
    if not handle or len(handle) > MAX_HANDLE_LENGTH or not handle.isprintable():
        raise InvalidInput(
            f"Handle must be 1-{MAX_HANDLE_LENGTH} printable characters.", code="invalid_handle"
        )


def validate_attributes(attributes: dict[str, Any]) -> dict[str, str]:
    """Free-form workload attributes: short strings without control characters."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(
            f"At most {MAX_ATTRIBUTES} attributes are allowed.", code="invalid_attributes"
        )
    out: dict[str, str] = {}
    for key, value in attributes.items():
        if (
            not isinstance(value, str)
            or not key
            or len(key) > 63
            or len(value) > MAX_ATTRIBUTE_LENGTH
            or _CONTROL.search(key)
            or _CONTROL.search(value)
        ):
            raise InvalidInput(
                f"Attribute {key!r} is not valid: keys of 1-63 characters, string values of "
                f"at most {MAX_ATTRIBUTE_LENGTH}, no control characters.",
                code="invalid_attributes",
            )
        out[key] = value
    return out


def reject_control_characters(what: str, value: str) -> str:
    if _CONTROL.search(value):
        raise InvalidInput(f"{what} contains control characters.", code="control_characters")
    return value


def matches(selector: dict[str, str], labels: dict[str, Any]) -> bool:
    """Equality selector: every key of the selector has that value in the labels."""
    return all(labels.get(key) == value for key, value in selector.items())


def parse_selector(text: str) -> dict[str, str]:
    """``rack=r1,zone=a`` → ``{"rack": "r1", "zone": "a"}`` (the CLI's form)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise InvalidInput(
                f"Selector term {part!r} is not of the form key=value.", code="invalid_selector"
            )
        out[key.strip()] = value.strip()
    return validate_labels(out, what="selector")
