"""requirements.txt is a complete lock, and the environment running the tests is exactly it.

scripts/_env.sh installs the lock with ``--require-hashes --no-deps``, so every package
must be listed there with hashes; this checks that nothing came in besides (for example
a transitive upgrade through a loose requirement) and that nothing listed is missing.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ENTRY = re.compile(r"^([A-Za-z0-9._-]+(?:\[[^\]]*\])?)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked() -> dict[str, str]:
    """Lock entries whose environment marker holds here: name -> version."""
    pins: dict[str, str] = {}
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    for i, line in enumerate(lines):
        match = ENTRY.match(line)
        if not match:
            continue
        name, version, marker = match.groups()
        assert lines[i + 1].strip().startswith("--hash=sha256:"), f"{name} has no hash"
        if marker is None or Marker(marker).evaluate():
            pins[canonicalize_name(name.split("[")[0])] = version
    return pins


def test_the_lock_pins_every_direct_requirement():
    pins = locked()
    direct = re.findall(
        r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==", (ROOT / "requirements.in").read_text(), re.M
    )
    assert len(pins) > 100 and all(canonicalize_name(d) in pins for d in direct)


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not running in a virtual env")
def test_the_environment_is_exactly_the_lock():
    pins = locked()
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) != "scaling-lab"
    }
    extra = {n: v for n, v in installed.items() if n not in pins}
    missing = {n: v for n, v in pins.items() if n not in installed}
    different = {n: (v, pins[n]) for n, v in installed.items() if n in pins and pins[n] != v}
    assert extra == {} and missing == {} and different == {}, (extra, missing, different)
