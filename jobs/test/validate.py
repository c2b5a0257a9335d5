#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests offline and prints them as JSON.

Usage: validate.py RENDERED.yaml [VERSION ...]

Every document is checked with kubernetes-validate (the schemas ship inside
the PyPI package, so no network is used) in strict mode, which also rejects
unknown fields, against each Kubernetes VERSION given (default: the oldest
and newest the package knows). On success the documents are printed as one
JSON array on stdout, so tests/jobs_manifests.rs can inspect them without a
YAML parser; on failure every problem goes to stderr and the exit code is 1.
Exit code 3 means kubernetes-validate is not installed.
"""

import json
import sys

try:
    import kubernetes_validate
    from kubernetes_validate import utils
    import yaml
except ImportError as e:  # the test turns this into a skip or a failure
    print(f"kubernetes-validate is not installed: {e}", file=sys.stderr)
    sys.exit(3)


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = sys.argv[1]
    versions = sys.argv[2:]
    if not versions:
        known = sorted(utils.all_versions(), key=lambda v: tuple(int(x) for x in v.split(".")))
        versions = [known[0], known[-1]]
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    problems = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = "/".join(str(p) for p in e.path)
                problems.append(f"{path}: {name} (Kubernetes {version}) at {where}: {e.message}")
            except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
                problems.append(f"{path}: {name} (Kubernetes {version}): {e}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    json.dump(docs, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
