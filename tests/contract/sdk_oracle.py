"""Meta's own word on what a Graph request may look like, read from the official Python Business SDK.

``facebook-business`` is generated from Meta's API definitions: each node class (``Page``,
``PagePost``, ``AdVideo``, ``Photo``, ``User``) has one method per operation, and each builds a
``FacebookRequest(node_id, method, endpoint, api_type, target_class, param_checker=TypeChecker(
param_types, …))``. Calling every such method with ``pending=True`` (the SDK's own way to get the
request without sending it) yields the whole catalogue: which edges a node has, with which HTTP
method, which parameter names each accepts, and what class the answer is (whose ``Field`` names
are what ``fields=`` may ask for, and whose own edges are what a field expansion may name).

Nothing here is written by us except the short list of :data:`EXCEPTIONS`: request features that are
real Graph but are not in ``param_types`` (each with its source). A request that is neither in the
catalogue nor an exception is a violation.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

from facebook_business import apiconfig
from facebook_business.adobjects.advideo import AdVideo
from facebook_business.adobjects.page import Page
from facebook_business.adobjects.pagepost import PagePost
from facebook_business.adobjects.photo import Photo
from facebook_business.adobjects.user import User
from facebook_business.api import FacebookAdsApi, FacebookRequest
from facebook_business.session import FacebookSession

SDK_API_VERSION: str = apiconfig.ads_api_config["API_VERSION"]
NODE_CLASSES: dict[str, type] = {cls.__name__: cls for cls in (Page, PagePost, AdVideo, Photo, User)}
GRAPH_HOST = "graph.facebook.com"
VIDEO_HOST = "graph-video.facebook.com"
RUPLOAD_HOST = "rupload.facebook.com"

# The exceptions: real Graph, not in any method's param_types. Each entry: what, where, source.
EXCEPTIONS: dict[str, str] = {
    "appsecret_proof": "every request, when an app secret is set; the SDK's own session adds it to every call "
                       "(facebook_business/session.py FacebookSession, params['appsecret_proof']); Meta: "
                       "developers.facebook.com/docs/graph-api/securing-requests",
    "fields": "GET only; the SDK sends it from add_fields() (facebook_business/api.py FacebookRequest.add_field); "
              "each name is checked against the answer class's Field names or edges (below)",
    "limit/after/before": "GET on an edge (cursor paging): developers.facebook.com/docs/graph-api/results "
                          "(\"A cursor-paginated edge supports the following parameters: before, after, limit\")",
    "since/until": "GET on an edge (time-based paging): developers.facebook.com/docs/graph-api/results "
                   "(time-based pagination); the SDK declares them on some edges (ads_posts, video_reels) only",
    "name[i]": "a list<…> parameter sent form-encoded as indexed keys (attached_media[0]=…); Meta's multi-photo "
               "example: developers.facebook.com/docs/graph-api/photo-uploads; the type is still checked",
    "expansion .limit()/.summary()": "field-expansion modifiers on an edge named in fields: "
                                     "developers.facebook.com/docs/graph-api/guides/field-expansion (.limit()); "
                                     "summary: /{page-post-id}/reactions reference (\"Specify the fields to fetch "
                                     "in the summary param\") and the SDK's Cursor, which adds summary=true to "
                                     "every edge read (facebook_business/api.py Cursor.load_next_page)",
    "graph-video host": "POST /{page-id}/videos goes to graph-video.facebook.com, as the SDK's own uploader does "
                        "(facebook_business/video_uploader.py VideoUploadRequest.send, url_override)",
    "edge-added fields": "fields an edge adds to the nodes it returns, which the node class does not carry: "
                         "/{user-id}/accounts adds tasks (developers.facebook.com/docs/graph-api/reference/user/"
                         "accounts: \"The following fields will be added to each node that is returned: tasks\")",
    "rupload host": "Reel upload: POST https://rupload.facebook.com/video-upload/{version}/{video-id} with headers "
                    "Authorization: OAuth … and file_url (developers.facebook.com/docs/video-api/guides/"
                    "reels-publishing, step 2); not a Graph node, so not in the SDK",
}
EDGE_ADDED_FIELDS: dict[tuple[str, str], frozenset[str]] = {("User", "accounts"): frozenset({"tasks"})}
PAGING_PARAMS = frozenset({"limit", "after", "before", "since", "until"})
EXPANSION_MODIFIERS = frozenset({"limit", "summary"})
_INDEXED = re.compile(r"^(?P<name>[a-z_]+)\[\d+\]$")
_RUPLOAD_PATH = re.compile(r"^/video-upload/(?P<version>v\d+\.\d+)/(?P<video>[^/]+)$")


@dataclass(frozen=True)
class SdkCall:
    """One operation the SDK defines: ``node`` ``method`` ``/{id}/{edge}`` (``edge`` "" for the node itself)."""

    node: str
    sdk_method: str
    http_method: str
    edge: str
    api_type: str
    param_types: Mapping[str, str]
    target: type

    def describe(self) -> str:
        return f"{self.node}.{self.sdk_method} ({self.http_method} /{{id}}{'/' + self.edge if self.edge else ''})"


@lru_cache(maxsize=None)
def catalogue(node: str) -> tuple[SdkCall, ...]:
    """Every request the SDK's ``node`` class can build, from its own methods with ``pending=True``."""
    cls = NODE_CLASSES[node]
    api = FacebookAdsApi(FacebookSession(access_token="unused"))  # builds requests, never sends one
    obj = cls(fbid="0", api=api)
    calls = []
    for name, function in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith(("api_", "get_", "create_", "delete_")):
            continue
        if "pending" not in inspect.signature(function).parameters or name == "api_create":
            continue
        request = getattr(obj, name)(pending=True)
        assert isinstance(request, FacebookRequest), f"{node}.{name} did not give a FacebookRequest"
        calls.append(SdkCall(node=node, sdk_method=name, http_method=request._method, edge=request._endpoint,
                             api_type=request._api_type or "", target=request._target_class,
                             param_types=dict(request._param_checker._type_check_info)))
    return tuple(calls)


def node_name_of(cls: type) -> str | None:
    """The catalogue name of an SDK class, when it is one of the node classes we read."""
    return cls.__name__ if cls.__name__ in NODE_CLASSES else None


def field_names(cls: type) -> frozenset[str]:
    """The ``Field`` names of an SDK class (what ``fields=`` may ask for on it)."""
    fields = getattr(cls, "Field", None)
    return frozenset(v for k, v in vars(fields).items() if not k.startswith("_")) if fields else frozenset()


def read_edges(cls: type) -> dict[str, SdkCall]:
    """GET edges of an SDK class by name (what a field expansion may name), {} when we do not catalogue it."""
    node = node_name_of(cls)
    if node is None:
        return {}
    return {call.edge: call for call in catalogue(node) if call.http_method == "GET" and call.edge}


# ----------------------------------------------------------------------------- field expressions


@dataclass
class FieldExpr:
    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    subfields: list["FieldExpr"] = field(default_factory=list)


def _split_top(text: str, sep: str = ",") -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_fields(text: str) -> list[FieldExpr]:
    """``a,b.limit(0).summary(true),c{d,e}`` → expressions (Graph's field-expansion syntax)."""
    out = []
    for part in _split_top(text):
        sub: list[FieldExpr] = []
        if part.endswith("}") and "{" in part:
            head, _, inner = part.partition("{")
            sub, part = parse_fields(inner[:-1]), head
        name, *mods = _split_top(part, ".")
        modifiers = {}
        for mod in mods:
            match = re.fullmatch(r"(?P<key>[a-z_]+)\((?P<value>[^()]*)\)", mod)
            modifiers[match.group("key") if match else mod] = match.group("value") if match else ""
        out.append(FieldExpr(name, modifiers, sub))
    return out


def check_fields(text: str, target: type, where: str, extra: frozenset[str] = frozenset()) -> list[str]:
    """Violations in a ``fields`` value asked of an answer of class ``target`` (``extra``: edge-added fields)."""
    problems = []
    names, edges = field_names(target) | extra, read_edges(target)
    for expr in parse_fields(text):
        if expr.name in edges:
            edge = edges[expr.name]
            for key in expr.modifiers:
                if key not in edge.param_types and key not in EXPANSION_MODIFIERS:
                    problems.append(f"{where}: fields expansion {expr.name}.{key}(…) is not a parameter of "
                                    f"{edge.describe()}")
            if expr.subfields:
                problems += check_fields(",".join(_render(s) for s in expr.subfields), edge.target, where)
        elif expr.name in names:
            if expr.modifiers:
                problems.append(f"{where}: {expr.name} is a field of {target.__name__}, not an edge; "
                                f"it takes no modifiers")
        else:
            problems.append(f"{where}: {target.__name__} has no field or edge {expr.name!r}")
    return problems


def _render(expr: FieldExpr) -> str:
    mods = "".join(f".{k}({v})" for k, v in expr.modifiers.items())
    sub = "{" + ",".join(_render(s) for s in expr.subfields) + "}" if expr.subfields else ""
    return f"{expr.name}{mods}{sub}"


# ----------------------------------------------------------------------------- one request


@dataclass(frozen=True)
class Sent:
    """A request as it went on the wire (captured with ``responses``)."""

    method: str
    url: str
    headers: Mapping[str, str]
    params: Mapping[str, str]  # query and form together (Graph reads both)

    @classmethod
    def from_prepared(cls, request: Any) -> "Sent":
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode()
        params = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
        params.update(dict(parse_qsl(body, keep_blank_values=True)))
        return cls(request.method, request.url, dict(request.headers), params)


def check_request(sent: Sent, node_of: Mapping[str, str]) -> tuple[list[str], SdkCall | None]:
    """Violations of one request against the SDK (empty when it conforms), and the SDK call it matched.

    ``node_of`` maps each id the test used to the node class it stands for (``"me"`` → ``User``).
    """
    parts = urlsplit(sent.url)
    where = f"{sent.method} {parts.path}"
    problems: list[str] = []
    if "access_token" in sent.params:
        problems.append(f"{where}: access_token travels in the URL or body (it must be the Authorization header)")
    if parts.hostname == RUPLOAD_HOST:
        return problems + _check_rupload(sent, where), None
    segments = [s for s in parts.path.split("/") if s]
    if not segments or segments[0] != SDK_API_VERSION:
        return problems + [f"{where}: not under /{SDK_API_VERSION}/ (the SDK's API version)"], None
    node_id, edge = segments[1], "/".join(segments[2:])
    node = node_of.get(node_id)
    if node is None:
        return problems + [f"{where}: the test does not say what node {node_id!r} is"], None
    matches = [c for c in catalogue(node) if c.http_method == sent.method and c.edge == edge]
    if not matches:
        return problems + [f"{where}: {node} defines no {sent.method} {'/' + edge if edge else 'on the node'} "
                           f"in facebook-business {SDK_API_VERSION}"], None
    call = matches[0]
    expected_host = VIDEO_HOST if (node, sent.method, edge) == ("Page", "POST", "videos") else GRAPH_HOST
    if parts.hostname != expected_host:
        problems.append(f"{where}: sent to {parts.hostname}, expected {expected_host}")
    for key, value in sent.params.items():
        problems += _check_param(key, value, call, where)
    return problems, call


def _check_param(key: str, value: str, call: SdkCall, where: str) -> list[str]:
    if key == "appsecret_proof":
        return []
    if key == "fields":
        if call.http_method != "GET":
            return [f"{where}: fields on a {call.http_method}"]
        return check_fields(value, call.target, where, EDGE_ADDED_FIELDS.get((call.node, call.edge), frozenset()))
    if key in PAGING_PARAMS and call.http_method == "GET" and call.api_type == "EDGE":
        return []
    indexed = _INDEXED.match(key)
    name = indexed.group("name") if indexed else key
    kind = call.param_types.get(name)
    if kind is None:
        return [f"{where}: {name!r} is not a parameter of {call.describe()}"]
    if indexed and not kind.startswith("list"):
        return [f"{where}: {key!r} is indexed but {name} is {kind}, not a list"]
    return []


def _check_rupload(sent: Sent, where: str) -> list[str]:
    match = _RUPLOAD_PATH.match(urlsplit(sent.url).path)
    problems = []
    if sent.method != "POST" or match is None:
        problems.append(f"{where}: the Reel upload is POST /video-upload/{{version}}/{{video-id}}")
    elif match.group("version") != SDK_API_VERSION:
        problems.append(f"{where}: upload version {match.group('version')} is not {SDK_API_VERSION}")
    if not sent.headers.get("file_url"):
        problems.append(f"{where}: the Reel upload needs the file_url header")
    if not str(sent.headers.get("Authorization", "")).startswith("OAuth "):
        problems.append(f"{where}: the Reel upload needs Authorization: OAuth …")
    extra = set(sent.params) - {"appsecret_proof"}
    if extra:
        problems.append(f"{where}: the Reel upload takes no parameters, got {sorted(extra)}")
    return problems


def describe_all(problems: Iterable[str]) -> str:
    return "\n".join(f"  - {p}" for p in problems)
