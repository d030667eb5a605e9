"""Writes the `tessel` wheel from the package's files (no network, no
setuptools): the files under tessel/, plus the .dist-info pip needs.

    build_wheel.py --out tessel-0.1.0-cp311-cp311-linux_x86_64.whl FILE...
"""
import argparse
import base64
import hashlib
import os
import sys
import zipfile

VERSION = "0.1.0"

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("files", nargs="+")
args = parser.parse_args()

tag = os.path.basename(args.out)[len(f"tessel-{VERSION}-"):-len(".whl")]
python = tag.split("-")[0]
if python != f"cp{sys.version_info[0]}{sys.version_info[1]}":
    sys.exit(f"build_wheel.py: the wheel is tagged {python}, but this is "
             f"Python {sys.version_info[0]}.{sys.version_info[1]}")

dist_info = f"tessel-{VERSION}.dist-info"
metadata = f"""Metadata-Version: 2.1
Name: tessel
Version: {VERSION}
Summary: Compile a single-device model for a mesh of devices, and run it
Requires-Python: =={sys.version_info[0]}.{sys.version_info[1]}.*
Requires-Dist: numpy
"""
wheel = f"""Wheel-Version: 1.0
Generator: tessel build_wheel.py
Root-Is-Purelib: false
Tag: {tag}
"""


def digest(data):
    hashed = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "sha256=" + hashed.rstrip(b"=").decode()


records = []
with zipfile.ZipFile(args.out, "w", zipfile.ZIP_DEFLATED) as archive:
    def add(name, data):
        # A fixed date: the same tree gives the same wheel.
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, data)
        records.append(f"{name},{digest(data)},{len(data)}")

    for path in sorted(args.files):
        with open(path, "rb") as f:
            add("tessel/" + os.path.basename(path), f.read())
    add(f"{dist_info}/METADATA", metadata.encode())
    add(f"{dist_info}/WHEEL", wheel.encode())
    add(f"{dist_info}/top_level.txt", b"tessel\n")
    records.append(f"{dist_info}/RECORD,,")
    archive.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
