#!/usr/bin/env python3
"""Report the module import graph of the crate under src/ (Python standard library only).

Files are modules (src/lib.rs = `crate`, src/main.rs = `main`, src/a/mod.rs = `a`, src/a/b.rs =
`a::b`), grouped into rooms (`train`) and subs (`train::finetune`). Imports are `use` trees
(multi-line groups too) and inline paths (`crate::data::rng::keyed_rng(..)`, `crate::bad_input!`)
starting with `crate`, `super`, `self`, a child module or, in main.rs, the crate name; comments
and strings are ignored. Each resolves to its longest existing module prefix (an exported macro
to the module defining it). A layer table ranks rooms: imports to a higher layer are UPWARD, to
another room of equal rank "sideways". Imports in `#[cfg(test)] mod` blocks are marked [test]
and left out of cycle detection.

Usage: python3 scripts/import_graph.py [--json] [--level room|sub|module] [--layers SPEC] [--root DIR]
  SPEC: layers top to bottom split by '>', rooms in a layer by ','; '*' places unlisted rooms.
"""
import argparse, json, re, sys
from collections import defaultdict
from pathlib import Path

# DESIGN.md "Source layout": commands -> train/infer -> model/optim/data -> text -> base (errors,
# files, progress, logging, metrics). Not named there: `report` (HTML of runs) is put beside
# train, `dist` (collectives) beside model/optim/data; main.rs (the binary) tops them all.
DEFAULT_LAYERS = ("main > commands > train,infer,report > model,optim,data,dist > text > "
                  "error,fsutil,lock,room,threads,malloc,progress,logging,metrics,crate,*")
LEVELS = ('module', 'sub', 'room')
RAW_STRING = re.compile(r'b?r(#*)"')
CHAR_LITERAL = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'")
USE_STMT = re.compile(r'\buse\s+([^;]+);')
USE_TOKEN = re.compile(r'\w+|::|[{},*]')
INLINE_PATH = r'(?<![\w:$])\$?(crate|super|self|CRATE_NAME)((?:::\w+)+)!?'
INLINE_MOD = re.compile(r'(#\[cfg\(test\)\]\s*)?\bmod\s+(\w+)\s*\{')
MACRO_EXPORT = re.compile(r'#\[macro_export\]\s*macro_rules!\s*(\w+)')


def blank_comments_and_strings(src):
    """src with comments and string/char literals turned to spaces (newlines kept, offsets too)."""
    chars, i, n = list(src), 0, len(src)
    while i < n:
        raw = RAW_STRING.match(src, i) if src[i] in 'br' else None
        char = CHAR_LITERAL.match(src, i) if src[i] == "'" else None  # else a lifetime `'a`
        if raw and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == '_')):
            end = src.find('"' + raw.group(1), raw.end())
            end = n if end < 0 else end + 1 + len(raw.group(1))
        elif src.startswith('//', i):
            end = n if src.find('\n', i) < 0 else src.find('\n', i)
        elif src.startswith('/*', i):  # block comments nest in Rust
            depth, end = 1, i + 2
            while end < n and depth:
                step = src[end:end + 2]
                depth += (step == '/*') - (step == '*/')
                end += 2 if step in ('/*', '*/') else 1
        elif src[i] == '"':
            end = i + 1
            while end < n and src[end] != '"':
                end += 2 if src[end] == '\\' else 1
            end += 1
        elif char:
            end = char.end()
        else:
            i += 1
            continue
        chars[i:end] = [c if c == '\n' else ' ' for c in chars[i:end]]
        i = end
    return ''.join(chars)


def inline_mod_scopes(code):
    """[(start, end, names, is_test)] of inline `mod x { .. }` blocks; names = nesting chain."""
    opens = {m.end() - 1: (m.group(2), bool(m.group(1))) for m in INLINE_MOD.finditer(code)}
    stack, scopes = [(None, None, (), False)], []
    for pos, ch in enumerate(code):
        if ch == '{':
            name, test = opens.get(pos, (None, False))
            chain, in_test = stack[-1][2:]
            stack.append((pos, name, chain + (name,) if name else chain, in_test or test))
        elif ch == '}' and len(stack) > 1:
            start, name, chain, test = stack.pop()
            if name:
                scopes.append((start, pos, chain, test))
    return scopes


def expand_use_tree(tokens, i, prefix):
    """Expand the use-tree at tokens[i] into ([(segments, offset)], next index)."""
    path, leaves, offset = list(prefix), [], None
    while i < len(tokens):
        tok, off = tokens[i]
        if tok == '{':  # a group: each member is a use-tree under the path so far
            i += 1
            while i < len(tokens) and tokens[i][0] != '}':
                sub, i = expand_use_tree(tokens, i, path)
                leaves += sub
                i += i < len(tokens) and tokens[i][0] == ','
            return leaves, i + 1
        if tok in (',', '}'):
            break
        if tok == 'as':  # `x as y`: skip the alias
            i += 2
            continue
        if tok != '::':
            if not (tok == 'self' and path):  # `{self, ..}` stands for the prefix itself
                path.append(tok)
            offset = off if offset is None else offset
        i += 1
    return leaves + [(path, offset)], i


class Graph:
    """Modules (files) of a crate and the imports between them."""

    def __init__(self, root):
        self.src = root / 'src'
        cargo = (root / 'Cargo.toml').read_text()
        self.crate_name = re.search(r'^name\s*=\s*"([^"]+)"', cargo, re.M).group(1).replace('-', '_')
        self.files = {self.module_of(p.relative_to(self.src)): p for p in sorted(self.src.rglob('*.rs'))}
        self.codes = {m: blank_comments_and_strings(p.read_text()) for m, p in self.files.items()}
        self.macros = {mac: m for m, code in self.codes.items() for mac in MACRO_EXPORT.findall(code)}
        self.imports = []  # dicts: file, line, path (as written), src, dst (module tuples), test
        for mod in self.files:
            self.scan(mod)

    @staticmethod
    def module_of(rel):
        """Module path (tuple of segments; () = crate root) of a file path relative to src/."""
        parts = list(rel.with_suffix('').parts)
        return () if parts == ['lib'] else tuple(parts[:-1] if parts[-1] == 'mod' else parts)

    def resolve(self, segments, scope):
        """The module a path written in module `scope` points into, or None (std, other crates)."""
        segs = [s for s in segments if re.fullmatch(r'\w+', s)]  # drops `*`
        if not segs:
            return None
        head, rest = segs[0], segs[1:]
        if head in ('crate', self.crate_name):
            if rest and rest[0] in self.macros:  # `crate::bad_input` lives where it is defined
                return self.macros[rest[0]]
            base = ()
        elif head in ('self', 'super'):
            base = scope
            while head == 'super' and base:  # each `super` climbs one level
                base, (head, rest) = base[:-1], (rest[0], rest[1:]) if rest else ('', [])
            if head == 'super':  # `super` above the crate root
                return None
            rest = [head] + rest if head not in ('', 'self') else rest
        elif scope + (head,) in self.files:  # 2018 path relative to a child module
            base, rest = scope, segs
        else:
            return None
        target = tuple(base) + tuple(rest)
        while target and target not in self.files:  # longest existing module prefix
            target = target[:-1]
        return target

    def scan(self, mod):
        """Record the imports of one file: use-trees first, then inline paths elsewhere."""
        code, seen, scopes = self.codes[mod], set(), inline_mod_scopes(self.codes[mod])
        rel = self.files[mod].relative_to(self.src.parent).as_posix()

        def record(segments, offset, text):  # the innermost inline `mod` around offset is the scope
            chain, test = max([(c, t) for s, e, c, t in scopes if s <= offset <= e] + [((), False)],
                              key=lambda ct: len(ct[0]))
            dst, line = self.resolve(segments, mod + chain), code.count('\n', 0, offset) + 1
            if dst is not None and dst != mod and (line, dst) not in seen:
                seen.add((line, dst))
                self.imports.append(dict(file=rel, line=line, path=text, src=mod, dst=dst, test=test))
        rest = list(code)
        for stmt in USE_STMT.finditer(code):
            tokens = [(t.group(), stmt.start(1) + t.start()) for t in USE_TOKEN.finditer(stmt.group(1))]
            for segments, offset in expand_use_tree(tokens, 0, [])[0]:
                record(segments, offset, '::'.join(segments))
            rest[stmt.start():stmt.end()] = ' ' * (stmt.end() - stmt.start())
        for m in re.finditer(INLINE_PATH.replace('CRATE_NAME', self.crate_name), ''.join(rest)):
            record([m.group(1)] + m.group(2).split('::')[1:], m.start(), m.group().lstrip('$'))


def name(mod):
    return '::'.join(mod) if mod else 'crate'


def group(mod, level):
    return name(mod if level == 'module' else mod[:1] if level == 'room' else mod[:2])


def parse_layers(spec):
    """Room -> rank (0 = top); key '*' holds the rank of rooms not listed (default: the last)."""
    ranks = {room.strip(): rank for rank, layer in enumerate(spec.split('>'))
             for room in layer.split(',') if room.strip()}
    ranks.setdefault('*', max(ranks.values(), default=0))
    return ranks


def tarjan_scc(edges):
    """Strongly connected components (of 2+ nodes) of {node: set(successors)}."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:  # v roots a component: pop it
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on_stack.discard(comp[-1])
            if len(comp) > 1:
                comps.append(sorted(comp))
    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return comps


def cycles(imports, level):
    """Mutual pairs (one example import each way) and SCCs at one grouping, test code left out."""
    example, edges = {}, defaultdict(set)
    for imp in imports:
        a, b = group(imp['src'], level), group(imp['dst'], level)
        if a != b and not imp['test']:
            edges[a].add(b)
            example.setdefault((a, b), f"{imp['file']}:{imp['line']} `{imp['path']}`")
    pairs = [dict(a=a, b=b, parent_child=b.startswith(a + '::') and b.count('::') == a.count('::') + 1,
                  a_to_b=example[(a, b)], b_to_a=example[(b, a)])
             for (a, b) in sorted(example) if a < b and (b, a) in example]
    return dict(level=level, mutual_pairs=pairs, sccs=tarjan_scc(edges))


def build_report(graph, ranks, levels):
    rank = lambda room: ranks.get(room, ranks['*'])
    kind = lambda a, b: 'down' if rank(a) < rank(b) else 'UP' if rank(a) > rank(b) else 'sideways'
    cycle_reports = [cycles(graph.imports, lv) for lv in levels]  # before names turn to strings
    room_edges = defaultdict(lambda: dict(refs=0, links=set()))
    for imp in graph.imports:
        a, b = group(imp['src'], 'room'), group(imp['dst'], 'room')
        imp.update(src=name(imp['src']), dst=name(imp['dst']), from_room=a, to_room=b,
                   kind='internal' if a == b else kind(a, b))
        if a != b:
            room_edges[(a, b)]['refs'] += 1
            room_edges[(a, b)]['links'].add((imp['file'], imp['dst']))
    edges = [dict(src=a, dst=b, refs=e['refs'], links=len(e['links']), kind=kind(a, b))
             for (a, b), e in sorted(room_edges.items(), key=lambda kv: (rank(kv[0][0]), kv[0]))]
    by_kind = lambda k: [imp for imp in graph.imports if imp['kind'] == k]
    summary = dict(files=len(graph.files), imports=len(graph.imports), test=sum(i['test'] for i in graph.imports),
                   cross_room=len(graph.imports) - len(by_kind('internal')), down=len(by_kind('down')),
                   sideways=len(by_kind('sideways')), upward=len(by_kind('UP')))
    return dict(layers={r: rank(r) for r in ranks}, room_edges=edges, upward=by_kind('UP'),
                sideways=by_kind('sideways'), cycles=cycle_reports,
                summary=summary, imports=graph.imports)


def print_markdown(rep):
    print(f"# Module import graph\n\n## Layers (0 = top; * = rooms not listed)\n")
    for r in sorted(set(rep['layers'].values())):
        print(f"- {r}: {', '.join(sorted(k for k, v in rep['layers'].items() if v == r))}")
    print("\n## Imports between rooms (refs = import sites, links = distinct file -> module)\n")
    for e in rep['room_edges']:
        print(f"- {e['src']} -> {e['dst']}: {e['refs']} refs, {e['links']} links ({e['kind']})")
    for title, key in (('Upward imports', 'upward'), ('Sideways imports', 'sideways')):
        print(f"\n## {title} ({len(rep[key])})\n")
        for i in rep[key]:
            print(f"- {i['file']}:{i['line']} {i['src']} -> {i['dst']} `{i['path']}`{' [test]' * i['test']}")
    for c in rep['cycles']:
        print(f"\n## Cycles at level `{c['level']}` (test code left out)\n\n"
              f"Mutual pairs ({len(c['mutual_pairs'])}; [parent/child] = mod.rs re-exports a child that uses it):")
        for p in c['mutual_pairs']:
            tag = ' [parent/child]' * p['parent_child']
            print(f"- {p['a']} <-> {p['b']}{tag}  ({p['a_to_b']}; {p['b_to_a']})")
        longer = [s for s in c['sccs'] if len(s) > 2]
        print(f"\nStrongly connected components of 3+ ({len(longer)}):")
        for s in longer:
            print(f"- {len(s)}: {', '.join(s)}")
    s = rep['summary']
    print(f"\n**Summary:** {s['files']} files, {s['imports']} imports ({s['test']} in test code), "
          f"{s['cross_room']} between rooms: {s['down']} down, {s['sideways']} sideways, {s['upward']} upward.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--json', action='store_true', help='machine-readable output (all imports included)')
    ap.add_argument('--level', choices=LEVELS, help='grouping for cycle detection (default: all three)')
    ap.add_argument('--layers', default=DEFAULT_LAYERS, help=f'layer table (default: "{DEFAULT_LAYERS}")')
    ap.add_argument('--root', type=Path, default=Path(__file__).resolve().parent.parent, help='crate dir')
    args = ap.parse_args()
    rep = build_report(Graph(args.root), parse_layers(args.layers), [args.level] if args.level else LEVELS)
    if args.json:
        json.dump(rep, sys.stdout, indent=1)
        print()
    else:
        print_markdown(rep)


if __name__ == '__main__':
    main()
