"""Build the Lambda zip of the cloud side, byte for byte reproducibly.

The hook (``cloud.hook.handler``) and the revoker (``cloud.revoker.handler``) run from one
zip holding the package ``cloud/`` with its runtime modules only: same sources, same
zip bytes (fixed timestamps and permissions, sorted names), so the S3 key can be the
zip's SHA-256 and a deployed hook can be traced back to its sources.

    python -m cloud.package build/cloud-lambda.zip
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

__all__ = ["RUNTIME_MODULES", "build_lambda_zip"]

RUNTIME_MODULES = ("__init__.py", "der.py", "sigverify.py", "hook.py", "revoker.py")
"""What the Lambda runtime needs; nothing else of ``cloud/`` goes into the zip."""

_SOURCE = Path(__file__).resolve().parent
_EPOCH = (1980, 1, 1, 0, 0, 0)


def build_lambda_zip(out: Path, *, source: Path = _SOURCE) -> str:
    """Write the zip to ``out`` and return its lowercase hex SHA-256."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(RUNTIME_MODULES):
            info = zipfile.ZipInfo(f"cloud/{name}", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            data = (source / name).read_bytes().replace(b"\r\n", b"\n")
            archive.writestr(info, data, compresslevel=9)
    tmp.replace(out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m cloud.package OUT.zip", file=sys.stderr)
        return 2
    digest = build_lambda_zip(Path(args[0]))
    print(f"{args[0]} sha256={digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
