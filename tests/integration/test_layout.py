"""The layout rules of docs/architecture.md, checked on the source tree.

- no meson.build compiles a source of another folder (no "../" in a target);
- a *_internal.h is included only from its own folder;
- every folder includes only headers of the folders its meson.build depends
  on (directly or through their dependencies), so the include graph between
  folders has no cycle; in particular shadow/ includes nothing of proxy/.
"""
import os
import re

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SUBSYSTEMS = [
	"common/wire", "common/runtime", "common/mql", "common/readexec", "common/mapping",
	"common/rowcodec", "common/rowstore", "common/queue", "common/dwtrans", "common/pg",
	"shift", "shadow", "proxy/dualwrite", "proxy/pgserve", "proxy", "tools",
]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
DEPS = re.compile(r"^(\w+)_deps\s*=\s*\[([^\]]*)\]", re.M)
EXE_DEPS = re.compile(r"executable\(\s*'(\w+)'.*?dependencies\s*:\s*\[([^\]]*)\]", re.S)


def sources(folder):
	d = os.path.join(ROOT, folder)
	return sorted(f for f in os.listdir(d) if f.endswith((".c", ".h")))


def read(folder, name):
	with open(os.path.join(ROOT, folder, name), encoding="utf-8") as f:
		return f.read()


def header_owner():
	owner = {}
	for folder in SUBSYSTEMS:
		for name in sources(folder):
			if name.endswith(".h"):
				assert name not in owner, "header %s in both %s and %s" % (name, owner[name], folder)
				owner[name] = folder
	return owner


def declared_deps():
	"""folder -> folders its meson.build names (by the <name>_dep variables)."""
	var_folder = {}
	raw = {}
	for folder in SUBSYSTEMS:
		with open(os.path.join(ROOT, folder, "meson.build"), encoding="utf-8") as f:
			text = f.read()
		m = DEPS.search(text) or EXE_DEPS.search(text)
		assert m, "%s/meson.build declares no dependency list" % folder
		var_folder[m.group(1) if m.group(1) != "tandem" else "tandem"] = folder
		raw[folder] = re.findall(r"(\w+)_dep\b", m.group(2))
	name_folder = {os.path.basename(f): f for f in SUBSYSTEMS}
	return {f: {name_folder[n] for n in names if n in name_folder and name_folder[n] != f}
		for f, names in raw.items()}


def closure(deps, folder):
	seen, todo = set(), [folder]
	while todo:
		for d in deps[todo.pop()]:
			if d not in seen:
				seen.add(d)
				todo.append(d)
	return seen


def test_no_source_compiled_across_folders():
	bad = []
	for dirpath, dirnames, filenames in os.walk(ROOT):
		dirnames[:] = [d for d in dirnames if not d.startswith((".", "build")) and d != "node_modules"]
		if "meson.build" in filenames:
			with open(os.path.join(dirpath, "meson.build"), encoding="utf-8") as f:
				for n, line in enumerate(f, 1):
					if "../" in line and not line.lstrip().startswith("#"):
						bad.append("%s:%d: %s" % (os.path.relpath(dirpath, ROOT), n, line.strip()))
	assert not bad, "sources compiled across folders:\n" + "\n".join(bad)


def test_internal_headers_stay_in_their_folder():
	owner = header_owner()
	bad = []
	for folder in SUBSYSTEMS + ["tests/unit", "tests/fuzz", "tests/clients", "tests/bench"]:
		for name in sources(folder):
			for inc in INCLUDE.findall(read(folder, name)):
				inc = os.path.basename(inc)
				if inc.endswith("_internal.h") and owner.get(inc) != folder:
					bad.append("%s/%s includes %s (of %s)" % (folder, name, inc, owner.get(inc)))
	assert not bad, "\n".join(bad)


def test_folders_include_only_what_they_link():
	owner = header_owner()
	deps = declared_deps()
	bad = []
	for folder in SUBSYSTEMS:
		allowed = closure(deps, folder) | {folder}
		for name in sources(folder):
			for inc in INCLUDE.findall(read(folder, name)):
				o = owner.get(os.path.basename(inc))
				if o and o not in allowed:
					bad.append("%s/%s includes %s of %s, which its meson.build does not name"
						   % (folder, name, inc, o))
	assert not bad, "\n".join(bad)


def test_no_cycle_between_folders():
	deps = declared_deps()
	for folder in SUBSYSTEMS:
		assert folder not in closure(deps, folder), "%s depends on itself through %s" % (
			folder, sorted(closure(deps, folder)))
	# The issue's own example: the shadow runner does not reach into the proxy.
	assert not {f for f in closure(deps, "shadow") if f.startswith("proxy")}


@pytest.mark.parametrize("what,folder", [
	("$lookup", "common/readexec"), ("flags_get", "shift"),
	("dualwrite_submit", "proxy/dualwrite"), ("rowcodec_to_json", "common/rowcodec"),
])
def test_a_newcomer_finds_it_by_folder_name(what, folder):
	"""docs/architecture.md's promise: these live where the folder name says."""
	hits = [f for f in sources(folder) if what in read(folder, f)]
	assert hits, "%s not found in %s" % (what, folder)
