"""Offline checks of the Conan recipe, the vcpkg manifest and the changelog.

    python3 check_packaging.py conan|vcpkg|changelog SOURCE_DIR VERSION

VERSION is CMake's PROJECT_VERSION; each packaging file must carry the same one.
"""
import ast
import json
import os
import py_compile
import re
import sys
import tempfile

# vcpkg ports Lepton's manifest may name (all exist in the vcpkg registry).
KNOWN_VCPKG_PORTS = {"xtensor", "xsimd", "xtl", "zlib", "nlohmann-json", "vcpkg-cmake", "vcpkg-cmake-config"}
REQUIRED = {"xtensor", "xsimd", "xtl", "zlib", "nlohmann-json"}

errors = []


def check(condition, message):
    if not condition:
        errors.append(message)


def compile_python(path):
    # Compiled into a temporary directory: no __pycache__ in the source tree.
    with tempfile.TemporaryDirectory() as tmp:
        py_compile.compile(path, cfile=os.path.join(tmp, "out.pyc"), doraise=True)


def conan(source, version):
    recipe = os.path.join(source, "conanfile.py")
    compile_python(recipe)
    compile_python(os.path.join(source, "test_package", "conanfile.py"))
    tree = ast.parse(open(recipe).read())
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    check(len(classes) == 1, "conanfile.py must define one recipe class")
    attrs = {}
    methods = {}
    for node in classes[0].body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                attrs[target.id] = node.value.value
        if isinstance(node, ast.FunctionDef):
            methods[node.name] = node
    check(attrs.get("name") == "lepton", f"recipe name is {attrs.get('name')!r}")
    check(attrs.get("version") == version, f"recipe version {attrs.get('version')!r} != CMake's {version}")
    check(attrs.get("package_type") == "header-library", "recipe is not a header-library")
    requires = set()
    for call in ast.walk(methods.get("requirements", ast.Module(body=[], type_ignores=[]))):
        if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "requires" and call.args:
            requires.add(call.args[0].value.split("/")[0])
    check({"xtensor", "xsimd", "zlib", "nlohmann_json"} <= requires, f"recipe requires {sorted(requires)}")
    check("package_id" in methods and "package_info" in methods, "recipe lacks package_id or package_info")
    for f in ("CMakeLists.txt", "test_package.cpp"):
        check(os.path.isfile(os.path.join(source, "test_package", f)), f"test_package/{f} missing")


def vcpkg(source, version):
    manifest = json.load(open(os.path.join(source, "ports", "lepton", "vcpkg.json")))
    check(manifest.get("name") == "lepton", f"port name is {manifest.get('name')!r}")
    check(manifest.get("version") == version, f"port version {manifest.get('version')!r} != CMake's {version}")
    names = set()
    for dep in manifest.get("dependencies", []):
        name = dep if isinstance(dep, str) else dep.get("name")
        names.add(name)
        check(name in KNOWN_VCPKG_PORTS, f"port depends on unknown port {name!r}")
        if name.startswith("vcpkg-cmake"):
            check(isinstance(dep, dict) and dep.get("host") is True, f"{name} must be a host dependency")
    check(REQUIRED <= names, f"port lacks {sorted(REQUIRED - names)}")
    portfile = open(os.path.join(source, "ports", "lepton", "portfile.cmake")).read()
    for feature in manifest.get("features", {}):
        check(re.search(rf"\b{feature}\b", portfile), f"feature {feature} is not used in portfile.cmake")


def changelog(source, version):
    text = open(os.path.join(source, "CHANGELOG.md")).read()
    check("## [Unreleased]" in text, "CHANGELOG.md has no Unreleased section")
    check(re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M),
          f"CHANGELOG.md has no '## [{version}] - YYYY-MM-DD' section")


if __name__ == "__main__":
    what, source, version = sys.argv[1:4]
    {"conan": conan, "vcpkg": vcpkg, "changelog": changelog}[what](source, version)
    for e in errors:
        print("error:", e)
    print(f"{what}: {'ok' if not errors else f'{len(errors)} error(s)'}")
    sys.exit(1 if errors else 0)
