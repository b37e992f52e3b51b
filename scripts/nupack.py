"""Write a .nupkg (an OPC zip) from a nuspec template and a staging directory laid out as the package.

    python3 nupack.py NUSPEC STAGING VERSION OUT.nupkg [--repository URL --commit SHA]

Debian's nuget.exe (2.8) predates the metadata a package needs today (<license type="expression">,
<repository>, <readme>), so the package is assembled here: the manifest at the root, the staging
directory's files, and the OPC parts ([Content_Types].xml, _rels/.rels, core properties) that
NuGet clients old and new read. Entries are written in a fixed order with fixed timestamps so the
same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def manifest(template: str, version: str, repository: str | None, commit: str | None) -> str:
    repo = ""
    if repository:
        attrs = f'type="git" url={quoteattr(repository)}'
        if commit:
            attrs += f" commit={quoteattr(commit)}"
        repo = f"<repository {attrs} />"
    text = template.replace("$version$", escape(version)).replace("$repository$", repo)
    if "$" in text.split("<metadata>", 1)[1]:
        raise SystemExit("nuspec still holds a $token$ after substitution")
    return text


def content_types(extensions: set[str]) -> str:
    defaults = {"rels": "application/vnd.openxmlformats-package.relationships+xml",
                "psmdcp": "application/vnd.openxmlformats-package.core-properties+xml"}
    for ext in sorted(extensions):
        defaults.setdefault(ext, "application/octet")
    rows = "".join(f'<Default Extension={quoteattr(e)} ContentType={quoteattr(t)} />' for e, t in defaults.items())
    return ('<?xml version="1.0" encoding="utf-8"?>'
            f'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">{rows}</Types>')


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("nuspec")
    ap.add_argument("staging")
    ap.add_argument("version")
    ap.add_argument("out")
    ap.add_argument("--repository")
    ap.add_argument("--commit")
    a = ap.parse_args()

    staging = Path(a.staging)
    text = manifest(Path(a.nuspec).read_text(encoding="utf-8"), a.version, a.repository, a.commit)
    package_id = text.split("<id>", 1)[1].split("</id>", 1)[0]
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    if not files:
        raise SystemExit(f"{staging} holds no files")
    nuspec_name = f"{package_id}.nuspec"
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    core = f"package/services/metadata/core-properties/{digest}.psmdcp"
    rels = ('<?xml version="1.0" encoding="utf-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/{nuspec_name}" Id="R1" />'
            '<Relationship Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" '
            f'Target="/{core}" Id="R2" /></Relationships>')
    props = ('<?xml version="1.0" encoding="utf-8"?>'
             '<coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xmlns="http://schemas.openxmlformats.org/package/2006/metadata/core-properties">'
             f'<dc:creator>The efm contributors</dc:creator><dc:identifier>{escape(package_id)}</dc:identifier>'
             f'<version>{escape(a.version)}</version><keywords>eformidling</keywords>'
             '<lastModifiedBy>scripts/nupack.py</lastModifiedBy></coreProperties>')
    extensions = {p.suffix.lstrip(".") for p in files if p.suffix} | {"nuspec"}

    def put(z: zipfile.ZipFile, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, FIXED_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        z.writestr(info, data)

    with zipfile.ZipFile(a.out, "w") as z:
        put(z, "_rels/.rels", rels.encode())
        put(z, nuspec_name, text.encode())
        for p in files:
            put(z, p.relative_to(staging).as_posix(), p.read_bytes())
        put(z, core, props.encode())
        put(z, "[Content_Types].xml", content_types(extensions).encode())
    print(f"{a.out}: {len(files)} files, version {a.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
