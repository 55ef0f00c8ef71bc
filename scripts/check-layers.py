#!/usr/bin/python3
"""Fails when a module includes a module of a higher layer (DESIGN.md section 3).

Usage: check-layers.py [SRC_DIR] [LAYERS_FILE]

Reads the layer of every module from scripts/layers.txt, then every #include "module/..."
of every .h, .cc and .cc.in file under src/, and names each include that goes up a layer
(file:line, from which module and layer to which). Exit status: 0 clean, 1 upward includes,
2 a usage or layer-file problem (a directory under src/ that the layer file does not name
is one: a new module must be given its layer).
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
SOURCE_SUFFIXES = (".h", ".cc", ".cc.in")


def read_layers(path):
    layers = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 2 or not fields[1].isdigit():
                raise ValueError(f"{path}:{number}: expected 'module layer', got {line!r}")
            layers[fields[0]] = int(fields[1])
    return layers


def module_of(path, layers):
    """The module a path (relative to src/, '/'-separated) belongs to: the longest match."""
    best = None
    for module in layers:
        if path.startswith(module + "/") and (best is None or len(module) > len(best)):
            best = module
    return best


def unknown_directories(src, layers):
    """Directories under src/ that hold sources but belong to no module of the layer file."""
    unknown = set()
    for root, _, files in os.walk(src):
        rel = os.path.relpath(root, src).replace(os.sep, "/")
        if rel == "." or not any(f.endswith(SOURCE_SUFFIXES) for f in files):
            continue
        if module_of(rel + "/", layers) is None:
            unknown.add(rel)
    return sorted(unknown)


def upward_includes(src, layers):
    found = []
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            source = module_of(rel, layers)
            if source is None:
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = module_of(m.group(1), layers)
                    if target is not None and layers[target] > layers[source]:
                        found.append((rel, number, source, target, m.group(1)))
    return sorted(found)


def main(argv):
    if len(argv) > 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src = argv[1] if len(argv) > 1 else os.path.join(HERE, "..", "src")
    layers_file = argv[2] if len(argv) > 2 else os.path.join(HERE, "layers.txt")
    try:
        layers = read_layers(layers_file)
    except (OSError, ValueError) as e:
        print(f"check-layers: {e}", file=sys.stderr)
        return 2
    if not os.path.isdir(src):
        print(f"check-layers: {src}: not a directory", file=sys.stderr)
        return 2
    unknown = unknown_directories(src, layers)
    for directory in unknown:
        print(f"check-layers: src/{directory} is not a module of {layers_file}: give it a layer",
              file=sys.stderr)
    if unknown:
        return 2
    found = upward_includes(src, layers)
    for rel, number, source, target, header in found:
        print(f"src/{rel}:{number}: {source} (layer {layers[source]}) includes \"{header}\" "
              f"of {target} (layer {layers[target]})")
    if found:
        print(f"check-layers: {len(found)} upward include{'' if len(found) == 1 else 's'} "
              f"(the layers are in {layers_file})")
        return 1
    print(f"check-layers: no module includes a higher layer ({len(layers)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
