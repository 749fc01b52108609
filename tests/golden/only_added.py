"""Check that re-recorded golden digests differ from the old ones only by added keys.

Usage: python3 tests/golden/only_added.py OLD_DIR NEW_DIR KEY [KEY ...]
(e.g. OLD_DIR from `git show REV:tests/golden/NAME.json`). Exit 1 if any file differs
once the named keys are removed from the new digests.
"""
import glob
import json
import os
import sys


def without(value, keys):
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value


old_dir, new_dir, keys = sys.argv[1], sys.argv[2], set(sys.argv[3:])
bad = 0
for path in sorted(glob.glob(os.path.join(old_dir, "*.json"))):
    name = os.path.basename(path)
    with open(path) as f:
        old = json.load(f)
    with open(os.path.join(new_dir, name)) as f:
        new = json.load(f)
    same = without(new, keys) == old
    bad += not same
    print(f"{name}: {'only added keys' if same else 'DIFFERS'}")
sys.exit(1 if bad else 0)
