"""The files the pages load, all served by the app itself: our own (``web/static``) and an allow-list of
files from ``node_modules`` (npm packages pinned by package-lock.json). Nothing else of ``node_modules``
is reachable, and nothing is fetched from another host at run time.

URLs carry a version so that they can be cached for a year: ``/static/app/<digest>/app.css`` (the digest
of our own files) and ``/static/vendor/<package>@<version>/<path>``. A request for an older version gets
today's file with ``no-cache`` (a page cached across a deployment still works).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from core.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
NODE_MODULES: Final = PROJECT_ROOT / "node_modules"
STATIC_PREFIX: Final = "/static"
IMMUTABLE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"


@dataclass(frozen=True, slots=True)
class Vendor:
    """An npm package and the files of it that pages may load (paths or globs inside the package)."""

    package: str
    files: tuple[str, ...]
    why: str


# The allow-list. Add a file here before a template or script refers to it (web.assets.vendor_url raises
# for anything else).
VENDORS: Final[tuple[Vendor, ...]] = (
    Vendor("htmx.org", ("dist/htmx.min.js",), "partial page updates"),
    Vendor(
        "pretendard",
        (
            "dist/web/variable/pretendardvariable-dynamic-subset.css",
            "dist/web/variable/woff2-dynamic-subset/*.woff2",
        ),
        "the Korean web font, split by unicode-range so a page loads only the glyphs it shows",
    ),
    Vendor("jsqr", ("dist/jsQR.js",), "QR decoding from the camera on the staff scanner page"),
    Vendor("@noble/ed25519", ("index.js",), "checks the Ed25519 signatures of QR codes offline (scanner)"),
)

MEDIA_TYPES: Final = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
}


@dataclass(frozen=True, slots=True)
class Asset:
    path: Path
    media_type: str


@dataclass
class Assets:
    """What ``/static/...`` serves, found once at start-up."""

    digest: str = ""
    own: dict[str, Asset] = field(default_factory=dict)
    # package -> (version, {path inside the package: asset})
    vendors: dict[str, tuple[str, dict[str, Asset]]] = field(default_factory=dict)
    _cache: dict[Path, bytes] = field(default_factory=dict)

    @classmethod
    def discover(cls, static_dir: Path = STATIC_DIR, node_modules: Path = NODE_MODULES) -> Assets:
        assets = cls()
        digest = hashlib.sha256()
        for path in sorted(p for p in static_dir.rglob("*") if p.is_file()):
            media_type = MEDIA_TYPES.get(path.suffix)
            if media_type is None:
                continue
            rel = path.relative_to(static_dir).as_posix()
            assets.own[rel] = Asset(path, media_type)
            digest.update(rel.encode() + b"\0" + path.read_bytes())
        assets.digest = digest.hexdigest()[:12]
        for vendor in VENDORS:
            root = node_modules / vendor.package
            try:
                version = json.loads((root / "package.json").read_text())["version"]
            except (OSError, ValueError, KeyError):
                log.warning("npm package %s is missing: run `npm ci` (make run does)", vendor.package)
                continue
            files: dict[str, Asset] = {}
            for pattern in vendor.files:
                for path in sorted(root.glob(pattern)):
                    if path.is_file() and path.suffix in MEDIA_TYPES:
                        files[path.relative_to(root).as_posix()] = Asset(path, MEDIA_TYPES[path.suffix])
            assets.vendors[vendor.package] = (version, files)
        return assets

    def static_url(self, rel: str) -> str:
        if rel not in self.own:
            raise LookupError(f"no file web/static/{rel}")
        return f"{STATIC_PREFIX}/app/{self.digest}/{rel}"

    def vendor_url(self, package: str, rel: str) -> str:
        if not any(v.package == package for v in VENDORS):
            raise LookupError(f"npm package {package} is not in web.assets.VENDORS")
        version, files = self.vendors.get(package, ("missing", {}))
        if self.vendors.get(package) and rel not in files:
            raise LookupError(f"{package}/{rel} is not in the allow-list of web.assets.VENDORS")
        return f"{STATIC_PREFIX}/vendor/{package}@{version}/{rel}"

    def find(self, path: str) -> tuple[Asset, bool] | None:
        """The asset at a path below ``/static/``, and whether the path names its current version."""
        kind, _, rest = path.lstrip("/").partition("/")
        if kind == "app":
            digest, _, rel = rest.partition("/")
            asset = self.own.get(rel)
            return (asset, digest == self.digest) if asset else None
        if kind == "vendor":
            # "<package>@<version>/<path>"; a scoped package has one more segment: "@noble/ed25519@3.2.0/..."
            segments = rest.split("/")
            if rest.startswith("@") and len(segments) > 1:
                segments = [f"{segments[0]}/{segments[1]}", *segments[2:]]
            package, _, version = segments[0].rpartition("@")
            found = self.vendors.get(package)
            if found is None:
                return None
            asset = found[1].get("/".join(segments[1:]))
            return (asset, version == found[0]) if asset else None
        return None

    def read(self, asset: Asset) -> bytes:
        content = self._cache.get(asset.path)
        if content is None:
            content = self._cache[asset.path] = asset.path.read_bytes()
        return content
